import express, { type Request, type Response, type NextFunction } from "express";
import { z } from "zod";
import type { Switchboard } from "./switchboard.ts";
import { checkPlaySpec } from "./caller/source.ts";
import { DEFAULT_DTMF_TIMING, DTMF_DIGITS } from "./caller/dtmf.ts";
import { bad } from "./control-errors.ts";
import { faultRouter, type FaultDeps } from "./faults/routes.ts";
import { addExtension, EXTENSION_NUMBER, findExtension, PHONE_NUMBER, type TwinExtension } from "./account.ts";
import { MAX_INSTANCES } from "./sip/registrar.ts";

/** Valid play specs (and readable WAV files) are checked up front so a bad one is a 400, not a call that fails later. */
const playSpec = z.string().min(1).superRefine((s, ctx) => {
  try {
    checkPlaySpec(s);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: `play must be tone:HZ[@DBFS][/MS], silence[/MS] or wav:PATH[/MS], joined by commas (${(err as Error).message})` });
  }
});
const codecs = z.array(z.enum(["opus", "PCMU"])).min(1);

const placeCall = z.object({
  from: z.string().min(1),
  to: z.string().optional(),
  play: playSpec,
  hangupAfterMs: z.number().int().positive().optional(),
  codecs: codecs.optional(),
  ring: z.enum(["device", "elsewhere"]).optional(),
  autoAnswer: z.boolean().optional(),
  callerName: z.string().max(40).regex(/^[\w .'-]*$/).optional(),
});

const callee = z.object({
  play: playSpec,
  busy: z.boolean().optional(),
  hangupAfterMs: z.number().int().positive().optional(),
  codecs: codecs.optional(),
});

const newExtension = z.object({
  number: z.string().regex(EXTENSION_NUMBER, { message: "number must be 3-5 digits, not starting with 0" }),
  name: z.string().min(1).max(40).regex(/^[\w .'-]+$/).optional(),
  phoneNumber: z.string().regex(PHONE_NUMBER, { message: "phoneNumber must be +1 and 10 digits" }).optional(),
});

const dtmf = z.object({
  digits: z.string().min(1).max(64).regex(DTMF_DIGITS, { message: "digits must be 0-9, *, #, A-D" }),
  mode: z.enum(["inband", "rfc4733"]),
  toneMs: z.number().int().min(20).max(5000).optional(),
  gapMs: z.number().int().min(0).max(5000).optional(),
});

/** The twin's control API for tests and the demo (docs/twin.md). */
export function controlRouter(board: Switchboard, listWebhooks: () => unknown[], faults?: FaultDeps): express.Router {
  const r = express.Router();
  r.use(express.json({ limit: "64kb" }));

  r.post("/calls", async (req, res) => {
    const parsed = placeCall.safeParse(req.body);
    if (!parsed.success) return bad(res, parsed.error);
    const { to } = parsed.data;
    if (to !== undefined && !findExtension(board.account, to)) {
      return void res.status(400).json({ error: "invalid_request", message: `to: no extension or phone number ${to} on the twin (it has ${board.account.extensions.map((e) => `${e.extensionNumber} ${e.phoneNumber}`).join(", ")})` });
    }
    const call = await board.placeInbound(parsed.data);
    res.status(201).json({ callId: call.id, telephonySessionId: call.telephonySessionId, partyId: call.partyId, state: call.state });
  });
  r.get("/calls", (_req, res) => {
    res.json({ records: [...board.calls.values()].map((c) => ({ id: c.id, direction: c.direction, state: c.state, from: c.from, to: c.to, telephonySessionId: c.telephonySessionId })) });
  });
  const findCall = (req: Request, res: Response) => {
    const call = board.calls.get(String(req.params.id));
    if (!call) res.status(404).json({ error: "not_found", message: `no call ${req.params.id}` });
    return call;
  };
  r.get("/calls/:id", (req, res) => {
    const call = findCall(req, res);
    if (call) res.json(call.toJSON());
  });
  r.get("/calls/:id/recording.wav", (req, res) => {
    const call = findCall(req, res);
    if (!call) return;
    if (!call.peer?.recorder) return void res.status(409).json({ error: "no_media", message: "the call has no media yet" });
    res.type("audio/wav").send(call.peer.recorder.wav());
  });
  r.delete("/calls/:id", async (req, res) => {
    const call = findCall(req, res);
    if (!call) return;
    await board.hangupFromCaller(call);
    res.json({ id: call.id, state: call.state, endReason: call.endReason });
  });
  r.post("/calls/:id/play", (req, res) => {
    const call = findCall(req, res);
    if (!call) return;
    const parsed = z.object({ play: playSpec }).safeParse(req.body);
    if (!parsed.success) return bad(res, parsed.error);
    if (!call.peer || call.state !== "answered") return void res.status(409).json({ error: "not_answered", message: "the call is not answered" });
    call.peer.play(parsed.data.play);
    res.json({ id: call.id, play: parsed.data.play });
  });
  r.post("/calls/:id/dtmf", (req, res) => {
    const call = findCall(req, res);
    if (!call) return;
    const parsed = dtmf.safeParse(req.body);
    if (!parsed.success) return bad(res, parsed.error);
    if (!call.peer || call.state !== "answered") return void res.status(409).json({ error: "not_answered", message: "the call is not answered" });
    const { digits, mode } = parsed.data;
    const timing = { toneMs: parsed.data.toneMs ?? DEFAULT_DTMF_TIMING.toneMs, gapMs: parsed.data.gapMs ?? DEFAULT_DTMF_TIMING.gapMs };
    if (mode === "rfc4733" && !call.peer.canSendEvents) {
      return void res.status(409).json({ error: "no_telephone_event", message: "telephone-event was not negotiated on this call" });
    }
    const sent = call.peer.sendDtmf(digits, mode, timing);
    call.dtmf.push(...sent);
    res.status(202).json({ id: call.id, digits, mode, ...timing, queued: sent.length });
  });
  r.put("/callees/:number", (req, res) => {
    const parsed = callee.safeParse(req.body);
    if (!parsed.success) return bad(res, parsed.error);
    board.callees.set(String(req.params.number), parsed.data);
    res.json({ number: req.params.number, ...parsed.data });
  });
  r.get("/registrations", (req, res) => {
    const name = typeof req.query.extension === "string" ? req.query.extension : undefined;
    const ext = name === undefined ? undefined : findExtension(board.account, name);
    if (name !== undefined && !ext) return void res.status(404).json({ error: "not_found", message: `no extension ${name}` });
    res.json({
      records: board.registrar.active(ext).map((r) => ({
        username: r.username,
        authorizationId: r.authorizationId,
        instanceId: r.instanceId,
        extensionId: r.extensionId,
        extensionNumber: r.extensionNumber,
        deviceId: r.deviceId,
        connectionId: r.conn.id,
        contact: r.contact,
        userAgent: r.userAgent ?? null,
        registeredAtMs: r.registeredAtMs,
        expiresAtMs: r.expiresAtMs,
      })),
    });
  });
  /** Without secrets: POST answers them once, and in-process tests read twin.account.extensions. */
  const extensionJSON = (e: TwinExtension) => ({
    extensionId: e.extensionId,
    extensionNumber: e.extensionNumber,
    name: e.name,
    phoneNumber: e.phoneNumber,
    deviceId: e.deviceId,
    sip: { username: e.sip.username, authorizationId: e.sip.authorizationId, domain: e.sip.domain },
    registered: board.registrar.active(e).length,
    instanceLimit: MAX_INSTANCES,
  });
  r.get("/extensions", (_req, res) => {
    res.json({ records: board.account.extensions.map(extensionJSON) });
  });
  r.post("/extensions", (req, res) => {
    const parsed = newExtension.safeParse(req.body);
    if (!parsed.success) return bad(res, parsed.error);
    let ext: TwinExtension;
    try {
      ext = addExtension(board.account, parsed.data);
    } catch (err) {
      return void res.status(409).json({ error: "conflict", message: (err as Error).message });
    }
    res.status(201).json({ ...extensionJSON(ext), jwt: ext.jwt, sip: ext.sip });
  });
  r.get("/webhooks", (_req, res) => {
    res.json({ records: listWebhooks() });
  });
  if (faults) r.use(faultRouter(faults));
  r.use((_req, res) => {
    res.status(404).json({ error: "not_found", message: "unknown twin control route" });
  });
  r.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status < 500 ? err.status : 500;
    res.status(status).json({ error: status === 400 ? "invalid_request" : "error", message: err.type === "entity.parse.failed" ? "malformed JSON body" : err.message });
  });
  return r;
}

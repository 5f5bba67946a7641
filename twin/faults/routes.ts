import express, { type Request, type Response } from "express";
import { z } from "zod";
import { findExtension, type TwinAccount } from "../account.ts";
import type { Call } from "../calls.ts";
import { bad, notFound } from "../control-errors.ts";
import type { SipConnection } from "../sip/transport.ts";
import type { Switchboard } from "../switchboard.ts";
import type { RestFaults } from "./rest-faults.ts";
import type { SipFaults } from "./sip-faults.ts";

export interface FaultDeps {
  board: Switchboard;
  account: TwinAccount;
  sip: SipFaults;
  rest: RestFaults;
  /** The SIP transport's open sockets. */
  connections(): SipConnection[];
}

// Every fault is bounded: at most 10 minutes or 10 000 uses.
const forMs = z.number().int().min(1).max(600_000);
const count = z.number().int().min(1).max(10_000);
const retryAfterS = z.number().int().min(0).max(3600);
const budget = { forMs: forMs.optional(), count: count.optional() };

/** ws accepts these close codes (RFC 6455 §7.4, plus the 3000-4999 private range). */
const closeCode = z
  .number()
  .int()
  .refine((c) => (c >= 1000 && c <= 1014 && ![1004, 1005, 1006].includes(c)) || (c >= 3000 && c <= 4999), "a WebSocket close code: 1000-1003, 1007-1014 or 3000-4999");

const drop = z
  .object({
    extension: z.string().min(1).optional(),
    instanceId: z.string().min(1).optional(),
    connectionId: z.number().int().positive().optional(),
    all: z.literal(true).optional(),
    mode: z.enum(["close", "terminate"]).default("close"),
    code: closeCode.default(1001),
    reason: z.string().max(123).optional(),
  })
  .refine((b) => [b.extension, b.instanceId, b.connectionId, b.all].filter((v) => v !== undefined).length === 1, {
    message: "name exactly one of extension, instanceId, connectionId or all",
  });

const refuseConnections = z.object({
  ...budget,
  mode: z.enum(["503", "close", "reset"]).optional(),
  retryAfterS: retryAfterS.optional(),
  proxy: z.enum(["primary", "backup"]).optional(),
});
const rejectRegister = z.object({
  ...budget,
  status: z.number().int().min(400).max(699).refine((s) => s !== 401 && s !== 407, "401 and 407 are the digest challenge, not a fault"),
  reason: z.string().min(1).max(80).regex(/^[\w .'-]+$/).optional(),
  retryAfterS: retryAfterS.optional(),
  onlyAuthorized: z.boolean().optional(),
});
const ignoreRegister = z.object(budget);
const restFault = z
  .object({
    ...budget,
    method: z.string().regex(/^([A-Za-z]+|\*)$/).optional(),
    path: z.string().startsWith("/restapi/"),
    status: z.number().int().refine((s) => s === 429 || (s >= 500 && s <= 599), "429 or 5xx").optional(),
    retryAfterS: retryAfterS.optional(),
    errorCode: z.string().min(1).max(40).optional(),
    message: z.string().min(1).max(200).optional(),
    delayMs: z.number().int().min(1).max(120_000).optional(),
  })
  .refine((b) => b.status !== undefined || b.delayMs !== undefined, { message: "give status, delayMs or both" });
const stall = z.object({ forMs: forMs.optional() });
const link = z
  .object({
    lossRate: z.number().min(0).max(0.5).default(0),
    delayMs: z.object({ min: z.number().min(0).max(2000), max: z.number().min(0).max(2000) }).default({ min: 0, max: 0 }),
  })
  .refine((b) => b.delayMs.min <= b.delayMs.max, { message: "delayMs.min must not exceed delayMs.max" });

/** Fault controls for tests: SIP sockets and registrations, REST routes, call media (docs/twin.md, "Faults"). */
export function faultRouter(deps: FaultDeps): express.Router {
  const { board, account, sip, rest } = deps;
  const r = express.Router();

  const state = () => ({
    sip: sip.toJSON(),
    rest: rest.toJSON(),
    media: [...board.calls.values()].filter((c) => c.state !== "ended" && c.peer && c.peer.mediaState !== "flowing").map((c) => ({ callId: c.id, ...c.peer!.mediaJSON() })),
  });
  r.get("/faults", (_req, res) => void res.json(state()));
  r.delete("/faults", (_req, res) => {
    sip.clear();
    rest.clear();
    for (const c of board.calls.values()) {
      c.peer?.resume();
      c.peer?.impair({ lossRate: 0, delayMs: { min: 0, max: 0 } });
    }
    res.json(state());
  });

  const connectionJSON = (c: SipConnection) => ({
    id: c.id,
    remote: c.remote,
    proxy: c.proxy,
    connectedAtMs: c.connectedAtMs,
    instanceIds: board.registrar.active().filter((g) => g.conn === c).map((g) => g.instanceId),
  });
  r.get("/sip/connections", (_req, res) => void res.json({ records: deps.connections().map(connectionJSON) }));

  r.post("/faults/sip/drop", (req, res) => {
    const parsed = drop.safeParse(req.body);
    if (!parsed.success) return bad(res, parsed.error);
    const b = parsed.data;
    const ext = b.extension === undefined ? undefined : findExtension(account, b.extension);
    if (b.extension !== undefined && !ext) return notFound(res, `no extension ${b.extension}`);
    const registrations = board.registrar.active(ext);
    const targets = b.all
      ? deps.connections()
      : b.connectionId !== undefined
        ? deps.connections().filter((c) => c.id === b.connectionId)
        : [...new Set(registrations.filter((g) => ext !== undefined || g.instanceId === b.instanceId).map((g) => g.conn))];
    if (b.connectionId !== undefined && targets.length === 0) return notFound(res, `no open SIP connection ${b.connectionId}`);
    const dropped = targets.map(connectionJSON);
    for (const c of targets) {
      if (b.mode === "terminate") c.terminate();
      else c.close(b.code, b.reason);
    }
    res.json({ mode: b.mode, code: b.mode === "close" ? b.code : 1006, dropped });
  });

  const arm = <T extends z.ZodType>(path: string, schema: T, apply: (spec: z.infer<T>) => void, clear: () => void) => {
    r.post(path, (req, res) => {
      const parsed = schema.safeParse(req.body ?? {});
      if (!parsed.success) return bad(res, parsed.error);
      apply(parsed.data);
      res.status(201).json(sip.toJSON());
    });
    r.delete(path, (_req, res) => {
      clear();
      res.json(sip.toJSON());
    });
  };
  arm("/faults/sip/refuse-connections", refuseConnections, (s) => sip.refuseConnections(s), () => sip.clear("refuse-connections"));
  arm("/faults/sip/reject-register", rejectRegister, (s) => sip.rejectRegister(s), () => sip.clear("reject-register"));
  arm("/faults/sip/ignore-register", ignoreRegister, (s) => sip.ignoreRegister(s), () => sip.clear("ignore-register"));

  r.post("/faults/rest", (req, res) => {
    const parsed = restFault.safeParse(req.body);
    if (!parsed.success) return bad(res, parsed.error);
    res.status(201).json(rest.describe(rest.add(parsed.data)));
  });
  r.delete("/faults/rest", (_req, res) => {
    rest.clear();
    res.json({ records: rest.toJSON() });
  });
  r.delete("/faults/rest/:id", (req, res) => {
    if (!rest.remove(String(req.params.id))) return notFound(res, `no REST fault ${req.params.id}`);
    res.json({ records: rest.toJSON() });
  });

  /** The call, answered and with media; otherwise the error is sent and undefined returned. */
  const answeredCall = (req: Request, res: Response): Call | undefined => {
    const call = board.calls.get(String(req.params.id));
    if (!call) return void notFound(res, `no call ${req.params.id}`);
    if (!call.peer || call.state !== "answered") return void res.status(409).json({ error: "not_answered", message: "the call is not answered" });
    return call;
  };
  r.post("/calls/:id/media/stall", (req, res) => {
    const parsed = stall.safeParse(req.body ?? {});
    if (!parsed.success) return bad(res, parsed.error);
    const call = answeredCall(req, res);
    if (!call) return;
    if (call.peer!.mediaState === "killed") return void res.status(409).json({ error: "media_killed", message: "the call's media was killed" });
    call.peer!.stall(parsed.data.forMs);
    res.json({ id: call.id, ...call.peer!.mediaJSON() });
  });
  r.post("/calls/:id/media/link", (req, res) => {
    const parsed = link.safeParse(req.body ?? {});
    if (!parsed.success) return bad(res, parsed.error);
    const call = answeredCall(req, res);
    if (!call) return;
    call.peer!.impair(parsed.data);
    res.json({ id: call.id, ...call.peer!.linkJSON() });
  });
  r.get("/calls/:id/media/link", (req, res) => {
    const call = answeredCall(req, res);
    if (!call) return;
    res.json({ id: call.id, ...call.peer!.linkJSON() });
  });
  r.post("/calls/:id/media/resume", (req, res) => {
    const call = answeredCall(req, res);
    if (!call) return;
    call.peer!.resume();
    res.json({ id: call.id, ...call.peer!.mediaJSON() });
  });
  r.post("/calls/:id/media/kill", (req, res) => {
    const call = answeredCall(req, res);
    if (!call) return;
    call.peer!.kill();
    res.json({ id: call.id, ...call.peer!.mediaJSON() });
  });
  return r;
}

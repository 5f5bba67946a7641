import express, { type NextFunction, type Request, type Response, type Router } from "express";
import { z } from "zod";
import { secretEquals } from "../bridge/secret-equal.ts";
import type { CallAction } from "./cluster/cluster.ts";
import type { Host } from "./host.ts";
import { jsonBody } from "./http-body.ts";

const digits = z.string().regex(/^[0-9A-D*#]{1,32}$/, { message: "digits are 0-9, A-D, * or #, at most 32" });
const phone = z.string().regex(/^\+?[0-9*#]{2,20}$/, { message: "a phone number (E.164 like +16505550100) or an extension number" });

export const schemas = {
  placeCall: z.strictObject({
    to: phone,
    from: phone.optional(),
    pipelineUrl: z.url({ protocol: /^wss?$/, error: "pipelineUrl must be a ws:// or wss:// URL" }).optional(),
    customParameters: z.record(z.string().regex(/^[\w.-]{1,64}$/), z.string().max(512)).optional(),
    // The protocol's per-call settings (openai-realtime: OPENAI_INSTRUCTIONS, OPENAI_VOICE, OPENAI_MODEL, OPENAI_TOOLS); checked by the host.
    pipelineSettings: z.record(z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/), z.string().max(16_000)).optional(),
    amd: z
      .strictObject({
        mode: z.enum(["detect", "human-only", "leave-message"]),
        maxDecisionMs: z.number().int().min(1000).max(30_000).optional(),
      })
      .optional(),
  }),
  dtmf: z.strictObject({ digits }),
  transfer: z.strictObject({ target: phone, mode: z.enum(["blind", "warm"]).default("blind") }),
  recording: z.strictObject({ action: z.enum(["start", "stop"]) }),
};

type Handler = (req: Request, res: Response) => Promise<void> | void;

/** What the API needs of the host (the cluster tests serve it from several hosts in one process). */
export type ApiHost = Pick<Host, "placeCall" | "listCalls" | "viewCall" | "act">;

const ERROR_NAMES: Record<number, string> = { 400: "bad_request", 404: "not_found", 409: "conflict", 503: "unavailable", 504: "timeout" };

function bad(res: Response, err: z.ZodError): void {
  res.status(400).json({ error: "bad_request", message: err.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "), fields: err.issues.map((i) => i.path.join(".")) });
}

/** Bearer API_TOKEN: 503 when it is unset, 401 without a bearer token, 403 when it is wrong. */
export function bearerAuth(apiToken: string | undefined) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!apiToken) return void res.status(503).json({ error: "api_disabled", message: "set API_TOKEN to use the API" });
    const header = req.header("authorization") ?? "";
    if (!/^bearer /i.test(header)) return void res.status(401).setHeader("WWW-Authenticate", "Bearer").json({ error: "unauthorized", message: "Authorization: Bearer <API_TOKEN> is required" });
    if (!secretEquals(header.slice(7).trim(), apiToken)) return void res.status(403).json({ error: "forbidden", message: "the bearer token is wrong" });
    next();
  };
}

/**
 * The REST API (docs in /openapi.json): bearer API_TOKEN on every route; JSON everywhere; every
 * body validated with a schema; 400 names the field, 404 for an unknown call, 409 when the call
 * is in the wrong state for the request.
 */
export function apiRouter(host: ApiHost, apiToken: string | undefined): Router {
  const r = express.Router();
  r.use("/calls", bearerAuth(apiToken), ...jsonBody("32kb"));

  const guard =
    (fn: Handler): Handler =>
    async (req, res) => {
      try {
        await fn(req, res);
      } catch (err) {
        const e = err as Error & { status?: number };
        res.status(e.status ?? 500).json({ error: ERROR_NAMES[e.status ?? 500] ?? "error", message: e.message });
      }
    };
  const withBody =
    <T extends z.ZodType>(schema: T, fn: (req: Request, res: Response, body: z.infer<T>) => Promise<void> | void): Handler =>
    (req, res) => {
      const parsed = schema.safeParse(req.body ?? {});
      if (!parsed.success) return bad(res, parsed.error);
      return fn(req, res, parsed.data);
    };

  r.get("/calls", guard(async (_req, res) => void res.json(await host.listCalls())));
  r.get(
    "/calls/:id",
    guard(async (req, res) => {
      const view = await host.viewCall(String(req.params.id));
      if (!view) return void res.status(404).json({ error: "not_found", message: `no call ${req.params.id}` });
      res.json(view);
    }),
  );
  r.post(
    "/calls",
    guard(
      withBody(schemas.placeCall, async (_req, res, body) => {
        const c = await host.placeCall(body.to, body.from, { pipelineUrl: body.pipelineUrl, customParameters: body.customParameters, amd: body.amd, pipelineSettings: body.pipelineSettings });
        res.status(201).json(await host.viewCall(c.id));
      }),
    ),
  );
  // Done here, or (in a cluster) by the host that owns the call: the answer is the call's view either way.
  const action = (path: string, what: CallAction) =>
    r.post(`/calls/:id/${path}`, guard(async (req, res) => void res.json(await host.act(String(req.params.id), what))));
  action("hangup", { kind: "hangup", reason: "api-hangup" });
  for (const verb of ["hold", "unhold", "mute", "unmute"] as const) action(verb, { kind: "control", verb });
  const bodyAction = <T extends z.ZodType>(path: string, schema: T, what: (body: z.infer<T>) => CallAction) =>
    r.post(`/calls/:id/${path}`, guard(withBody(schema, async (req, res, body) => void res.json(await host.act(String(req.params.id), what(body))))));
  bodyAction("dtmf", schemas.dtmf, (b) => ({ kind: "dtmf", digits: b.digits }));
  bodyAction("transfer", schemas.transfer, (b) => ({ kind: "transfer", target: b.target, mode: b.mode }));
  bodyAction("recording", schemas.recording, (b) => ({ kind: "control", verb: "recording", action: b.action }));
  return r;
}

/** The OpenAPI document, its bodies generated from the same schemas that validate requests. */
export function openApi(): Record<string, unknown> {
  const body = (s: z.ZodType) => ({ required: true, content: { "application/json": { schema: z.toJSONSchema(s, { io: "input" }) } } });
  const callResponse = { description: "the call", content: { "application/json": { schema: { $ref: "#/components/schemas/Call" } } } };
  const errors = {
    "400": { description: "invalid body; `fields` names what is wrong" },
    "401": { description: "no bearer token" },
    "403": { description: "wrong token" },
    "404": { description: "unknown call" },
    "409": { description: "the call is in the wrong state, or MAX_CONCURRENT_CALLS is reached" },
    "413": { description: "the body is over 32 KB" },
    "415": { description: "the body is not application/json in UTF-8, or is compressed" },
    "500": { description: "RingCentral or the page refused the request; `message` says why" },
    "502": { description: "transfer only: RingCentral refused the transfer; the call is back with the pipeline (a fresh `start`)" },
    "503": { description: "API_TOKEN is not set on the host; POST /calls on a draining host or while Chrome or the registration is down; or, in a cluster, the host that owns the call is gone or Redis is unreachable" },
    "504": { description: "in a cluster: the host that owns the call did not answer in time" },
  };
  const post = (summary: string, b?: z.ZodType) => ({ post: { summary, ...(b && { requestBody: body(b) }), responses: { "200": callResponse, ...errors } } });
  return {
    openapi: "3.1.0",
    info: { title: "rc-voice-host", version: "0.1.0", description: "Calls on a RingCentral line, handled by an AI pipeline." },
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "API_TOKEN" } },
      schemas: {
        Call: {
          type: "object",
          required: ["id", "direction", "from", "to", "state", "createdAt"],
          properties: {
            id: { type: "string" },
            direction: { enum: ["inbound", "outbound"] },
            from: { type: "string" },
            fromName: { type: ["string", "null"] },
            to: { type: "string" },
            state: { enum: ["ringing", "answering", "answered", "ended"] },
            telephonySessionId: { type: ["string", "null"], description: "RingCentral's id (Call Control, webhooks); also the pipeline's callSid" },
            partyId: { type: ["string", "null"] },
            codec: { type: ["string", "null"], description: "what the call sends on the wire, e.g. PCMU or opus" },
            createdAt: { type: "string", format: "date-time" },
            answeredAt: { type: ["string", "null"], format: "date-time" },
            endedAt: { type: ["string", "null"], format: "date-time" },
            endReason: { type: ["string", "null"] },
            transferTarget: { type: ["string", "null"] },
            transcript: { type: "array", description: "openai-realtime: the conversation's finished lines (at most 200)", items: { type: "object", properties: { role: { enum: ["caller", "agent"] }, text: { type: "string" }, atMs: { type: "number" } } } },
            amd: { type: ["object", "null"], properties: { result: { enum: ["human", "machine", "unknown"] }, reason: { type: "string" }, atMs: { type: "number" } } },
            recording: {
              type: ["object", "null"],
              properties: { path: { type: "string" }, durationMs: { type: "number" }, failed: { type: "string" }, metadataPath: { type: "string", description: "the JSON beside the WAV: the call and its quality" } },
            },
            quality: {
              type: ["object", "null"],
              description: "receive quality from WebRTC stats, sampled every 2 s while answered (null before the first sample)",
              properties: {
                codec: { type: ["string", "null"] },
                samples: { type: "integer" },
                jitterMs: { type: "number", description: "the last sample's interarrival jitter" },
                maxJitterMs: { type: "number" },
                meanJitterMs: { type: "number" },
                packetsReceived: { type: "integer" },
                packetsLost: { type: "integer" },
                lossFraction: { type: "number", description: "lost / (lost + received)" },
                rttMs: { type: ["number", "null"], description: "round-trip time (RTCP, else the ICE pair's)" },
                jitterBufferMs: { type: ["number", "null"], description: "jitterBufferDelay / jitterBufferEmittedCount" },
                concealedSamples: { type: "integer" },
                concealedFraction: { type: ["number", "null"] },
                sampledAt: { type: "string", format: "date-time" },
              },
            },
            stream: { type: ["object", "null"], description: "frame counters of the call's stream (callerFrames, agentSamples, marksPlayed, underruns, dtmfIn, …)" },
            host: { type: "string", description: "in a cluster (REDIS_URL): the id of the host that owns the call" },
          },
        },
      },
    },
    paths: {
      "/calls": {
        get: { summary: "list calls (active and recent; in a cluster, every host's)", responses: { "200": { description: "{records: Call[], partial?: string} (`partial`: Redis unreachable, only this host's calls)" } } },
        post: { summary: "place an outbound call", requestBody: body(schemas.placeCall), responses: { "201": callResponse, ...errors } },
      },
      "/calls/{id}": { get: { summary: "one call", responses: { "200": callResponse, "404": errors["404"] } } },
      "/calls/{id}/hangup": post("hang up"),
      "/calls/{id}/dtmf": post("send DTMF digits to the caller (RFC 4733)", schemas.dtmf),
      "/calls/{id}/transfer": post("transfer: blind (REFER) or warm (hold, consult, then connect)", schemas.transfer),
      "/calls/{id}/hold": post("hold"),
      "/calls/{id}/unhold": post("resume"),
      "/calls/{id}/mute": post("mute the agent's audio"),
      "/calls/{id}/unmute": post("unmute"),
      "/calls/{id}/recording": post("start or stop RingCentral's own call recording", schemas.recording),
      "/health": { get: { security: [], summary: "the process is alive", responses: { "200": { description: "ok" } } } },
      "/ready": { get: { security: [], summary: "Chrome is up, SIP is registered, and (in a cluster) Redis reachable with an instance lease; not draining", responses: { "200": { description: "ready" }, "503": { description: "not ready; `reason` says why when draining, `cluster.reason` for the cluster" } } } },
      "/admin/drain": { post: { summary: "drain as SIGTERM does: no new call, calls in progress go on until they end or DRAIN_TIMEOUT_S, then the process exits 0", responses: { "202": { description: "{draining: {since, by, callsInProgress, hangUpAt}}" }, "401": errors["401"], "403": errors["403"] } } },
    },
  };
}

/**
 * The host's check of what the page sends on its control socket: every event of
 * ./page-protocol.ts, field by field. A message that fails is logged and dropped by the page link,
 * so the host's handlers only ever see well-typed events. Host side only (the page never loads zod).
 */
import { z } from "zod";
import { MAX_SLOTS } from "./page-frames.ts";
import type { PageEvent } from "./page-protocol.ts";

const id = z.string().min(1).max(1024);
const text = z.string().max(64 * 1024);
const optional = z.string().max(1024).optional();
const count = z.number().int().min(0).max(2 ** 53);
/** A duration from WebRTC stats: finite, not negative, at most an hour. */
const ms = z.number().min(0).max(3_600_000);

const schema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready"), sampleRate: z.number().int().min(8000).max(192_000), userAgent: text, buildMs: ms.optional(), startedAtMs: ms.optional() }),
  z.object({ type: z.literal("registered") }),
  z.object({ type: z.literal("registrationFailed"), error: text }),
  z.object({ type: z.literal("sipLost"), reason: text, status: z.number().int().min(100).max(699).optional() }),
  z.object({
    type: z.literal("incoming"),
    sipCallId: id,
    telephonySessionId: optional,
    partyId: optional,
    from: z.string().max(1024),
    fromName: optional,
    to: z.string().max(1024),
    autoAnswer: z.boolean(),
  }),
  z.object({ type: z.literal("outgoing"), requestId: id, sipCallId: id, to: z.string().max(1024) }),
  z.object({ type: z.literal("answered"), sipCallId: id, codec: optional, telephonySessionId: optional, partyId: optional }),
  z.object({ type: z.literal("mediaConnected"), sipCallId: id, slot: z.number().int().min(0).max(MAX_SLOTS - 1) }),
  z.object({ type: z.literal("ended"), sipCallId: id, by: z.enum(["remote", "local", "failed"]), reason: text.optional() }),
  z.object({
    type: z.literal("quality"),
    sipCallId: id,
    codec: optional,
    jitterMs: ms,
    packetsReceived: count,
    // RTCP may report more lost than expected (duplicates make it negative): kept as reported.
    packetsLost: z.number().int().min(-(2 ** 31)).max(2 ** 53),
    rttMs: ms.optional(),
    jitterBufferMs: ms.optional(),
    concealedSamples: count,
    totalSamples: count,
  }),
  z.object({ type: z.literal("result"), requestId: id, ok: z.boolean(), error: text.optional() }),
  z.object({ type: z.literal("log"), level: z.enum(["debug", "info", "warn", "error"]), msg: text, sipCallId: optional }),
]);

// The schema and the protocol's type must stay one: a new event (or field) fails to compile here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const inSync: Same<z.infer<typeof schema>, PageEvent> = true;
void inSync;

/** The event, or why the message is not one (a sentence naming the field). */
export function parsePageEvent(value: unknown): { event: PageEvent } | { problem: string } {
  const r = schema.safeParse(value);
  if (r.success) return { event: r.data };
  return { problem: r.error.issues.map((i) => `${i.path.join(".") || "message"}: ${i.message}`).join("; ") };
}

/** fast-check arbitraries for the page's control events (bridge/page-protocol.ts), valid and not. */
import fc from "fast-check";
import type { PageEvent } from "../../bridge/page-protocol.ts";
import { mutated, nastyJson, nastyString } from "./fuzz.ts";

const str = fc.string({ maxLength: 20 });
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

/** Well-formed events; `sipCallId` from `ids` so a sequence talks about the same few calls. */
export function validEvent(ids: readonly string[] = ["sip-1", "sip-2", "sip-3"]): fc.Arbitrary<PageEvent> {
  const sip = fc.constantFrom(...ids);
  const events: Array<fc.Arbitrary<PageEvent>> = [
    fc.record({ type: fc.constant("ready" as const), sampleRate: fc.constantFrom(8000, 16000, 48000), userAgent: str }),
    fc.constant({ type: "registered" as const }),
    fc.record({ type: fc.constant("registrationFailed" as const), error: str }),
    fc.record({ type: fc.constant("sipLost" as const), reason: str, status: opt(fc.constantFrom(401, 403, 408, 603)) }),
    fc.record({
      type: fc.constant("incoming" as const),
      sipCallId: sip,
      telephonySessionId: opt(fc.constantFrom("s-1", "s-2")),
      partyId: opt(str),
      from: fc.constantFrom("+16505550100", "", "anonymous"),
      fromName: opt(str),
      to: fc.constantFrom("+16505550199", "101"),
      autoAnswer: fc.boolean(),
    }),
    fc.record({ type: fc.constant("outgoing" as const), requestId: fc.constantFrom("r1", "r2", "x"), sipCallId: sip, to: str }),
    fc.record({ type: fc.constant("answered" as const), sipCallId: sip, codec: opt(fc.constantFrom("PCMU", "opus", "")), telephonySessionId: opt(str), partyId: opt(str) }),
    fc.record({ type: fc.constant("mediaConnected" as const), sipCallId: sip, slot: fc.integer({ min: 0, max: 0xffff }) }),
    fc.record({ type: fc.constant("ended" as const), sipCallId: sip, by: fc.constantFrom("remote" as const, "local" as const, "failed" as const), reason: opt(str) }),
    fc.record({
      type: fc.constant("quality" as const),
      sipCallId: sip,
      codec: opt(fc.constantFrom("PCMU", "opus")),
      jitterMs: fc.double({ min: 0, max: 500, noNaN: true }),
      packetsReceived: fc.nat(),
      packetsLost: fc.integer({ min: -5, max: 1000 }),
      rttMs: opt(fc.double({ min: 0, max: 2000, noNaN: true })),
      jitterBufferMs: opt(fc.double({ min: 0, max: 2000, noNaN: true })),
      concealedSamples: fc.nat(),
      totalSamples: fc.nat(),
    }),
    fc.record({ type: fc.constant("result" as const), requestId: fc.constantFrom("r1", "r2", "x"), ok: fc.boolean(), error: opt(str) }),
    fc.record({ type: fc.constant("log" as const), level: fc.constantFrom("debug" as const, "info" as const, "warn" as const, "error" as const), msg: str, sipCallId: opt(sip) }),
  ];
  // Records keep keys whose value is undefined: JSON would drop them, and so does the page.
  return fc.oneof(...events).map((e) => JSON.parse(JSON.stringify(e)) as PageEvent);
}

/** What a broken or hostile page could send instead, as the text of one message. */
export const hostileControlText: fc.Arbitrary<string> = fc.oneof(
  nastyString,
  nastyJson.map((v) => JSON.stringify(v) ?? "null"),
  mutated(validEvent() as fc.Arbitrary<Record<string, unknown>>).map((v) => JSON.stringify(v)),
  fc.constantFrom(
    '{"type":"log","level":"constructor","msg":"x"}',
    '{"type":"log","level":"__proto__","msg":"x"}',
    '{"type":"__proto__"}',
    '{"type":"result","requestId":{"toString":1},"ok":"yes"}',
    '{"type":"mediaConnected","sipCallId":"sip-1","slot":1e300}',
    '{"type":"mediaConnected","sipCallId":"sip-1","slot":-1}',
    '{"type":"quality","sipCallId":"sip-1","jitterMs":-1,"packetsReceived":1,"packetsLost":0,"concealedSamples":0,"totalSamples":0}',
    '{"type":"quality","sipCallId":"sip-1","jitterMs":1e308,"packetsReceived":1.5,"packetsLost":0,"concealedSamples":0,"totalSamples":0}',
    '{"type":"ended","sipCallId":"sip-1","by":"remote","__proto__":{"polluted":true}}',
    "null",
    "[]",
    '"incoming"',
  ),
);

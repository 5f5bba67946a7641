/**
 * A hostile pipeline: whatever it sends on the stream (text or binary, well-formed or not, broken
 * WebSocket frames), the call's stream counts what it cannot use, goes on, and ends only when the
 * pipeline asks or breaks the connection. A real CallStream against a real local WebSocket server;
 * only the page is a stand-in (test/support/fake-link.ts).
 */
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import type { PipelineProfile, StreamInfo } from "../bridge/pipeline/index.ts";
import { CallStream } from "../bridge/stream.ts";
import { FakeLink } from "./support/fake-link.ts";
import { quietLog } from "./support/fake-page.ts";
import { mutated, nastyJson, nastyString, runs } from "./support/fuzz.ts";
import { startRawPipeline, type RawConnection, type RawPipeline } from "./support/raw-pipeline.ts";
import { until } from "./support/until.ts";

const INFO: StreamInfo = { callSid: "s-1", accountId: "acc", from: "+15550001111", to: "+15550009999", direction: "inbound", customParameters: {} };
const PROFILES: Array<[string, PipelineProfile]> = [
  ["twilio μ-law", { protocol: "twilio", encoding: "mulaw", sampleRate: 8000 }],
  ["twilio L16 16 kHz", { protocol: "twilio", encoding: "l16", sampleRate: 16000 }],
  ["l16 16 kHz", { protocol: "l16", encoding: "l16", sampleRate: 16000 }],
];

let pipeline: RawPipeline | undefined;
const streams: CallStream[] = [];
afterEach(async () => {
  for (const s of streams.splice(0)) await s.close("test over");
  await pipeline?.close();
  pipeline = undefined;
});

async function openStream(profile: PipelineProfile) {
  pipeline ??= await startRawPipeline();
  const link = new FakeLink();
  const ends: string[] = [];
  const dtmf: string[] = [];
  const stream = new CallStream(
    link.asLink,
    0,
    { profile, url: pipeline.url, connectTimeoutMs: 5000, playoutLeadMs: 40, maxQueueMs: 120_000, reconnect: false },
    { onEnd: (reason) => ends.push(reason), onSendDtmf: async (digits) => void dtmf.push(digits) },
    quietLog,
  );
  streams.push(stream);
  const seen = pipeline.connections.length;
  await stream.open(INFO);
  const conn: RawConnection = await until(() => pipeline!.connections[seen], "the connection");
  await until(() => conn.messages.some((m) => m.event === "start"), "start");
  return { link, stream, conn, ends, dtmf };
}

const b64 = fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString("base64"));
const digits = fc.stringMatching(/^[0-9A-D*#]{1,32}$/);
const twilioMessage = fc.oneof(
  fc.record({ event: fc.constant("media"), media: fc.record({ payload: b64 }) }),
  fc.record({ event: fc.constant("mark"), mark: fc.record({ name: fc.string({ maxLength: 300 }) }) }),
  fc.constant({ event: "clear" }),
  fc.record({ event: fc.constant("dtmf"), dtmf: fc.record({ digits }) }),
);
const l16Control = fc.oneof(
  fc.record({ event: fc.constant("mark"), name: fc.string({ maxLength: 300 }) }),
  fc.constant({ event: "clear" }),
  fc.record({ event: fc.constant("dtmf"), digits }),
);
/** One message from the pipeline: text, or binary when `data` is a Buffer. */
const message = (profile: PipelineProfile) =>
  fc.oneof(
    (profile.protocol === "twilio" ? twilioMessage : l16Control).map((m) => JSON.stringify(m)),
    mutated((profile.protocol === "twilio" ? twilioMessage : l16Control) as fc.Arbitrary<Record<string, unknown>>).map((m) => JSON.stringify(m)),
    nastyJson.map((v) => JSON.stringify(v) ?? "null"),
    nastyString,
    fc.constantFrom('{"event":"media","media":{"payload":"!!!not base64"}}', '{"event":"media","media":null}', '{"event":"mark","mark":{"name":{"__proto__":1}}}', '{"event":"__proto__"}', "[]", "null", "1e309"),
    fc.uint8Array({ maxLength: 1000 }).map((b) => Buffer.from(b)),
  );

/** The pipeline's own dtmf message, as a sentinel: messages are handled in order. */
const sentinelFor = (profile: PipelineProfile, d: string) => JSON.stringify(profile.protocol === "twilio" ? { event: "dtmf", dtmf: { digits: d } } : { event: "dtmf", digits: d });
/** 20 ms of valid agent audio in the profile's own wire form, and how many samples it holds. */
function validAudio(profile: PipelineProfile): { data: string | Buffer; samples: number } {
  const samples = profile.sampleRate / 50;
  if (profile.protocol === "l16") return { data: Buffer.alloc(samples * 2), samples };
  const bytes = profile.encoding === "mulaw" ? samples : samples * 2;
  return { data: JSON.stringify({ event: "media", media: { payload: Buffer.alloc(bytes).toString("base64") } }), samples };
}

describe.each(PROFILES)("a hostile %s pipeline", (_name, profile) => {
  it("messages of any shape are used or counted, never fatal; the stream keeps playing", async () => {
    const s = await openStream(profile);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof({ weight: 4, arbitrary: message(profile) }, fc.integer({ min: 0, max: 3000 }).map((len) => ({ caller: len }))), { maxLength: 25 }), async (batch) => {
        const bad = s.stream.stats.badMessages;
        for (const m of batch) {
          // Caller frames of any length go the other way meanwhile.
          if (typeof m === "object" && "caller" in m) s.link.frame(0, new Int16Array(m.caller));
          else s.conn.ws.send(m);
        }
        const sentinel = String(++n).padStart(32, "0");
        s.conn.ws.send(sentinelFor(profile, sentinel));
        await until(() => s.dtmf.includes(sentinel), "the sentinel");
        const sent = batch.filter((m) => typeof m === "string" || m instanceof Buffer).length;
        expect(s.stream.stats.badMessages - bad).toBeLessThanOrEqual(sent);
        // Nothing here ends a call: there is no hangup among these messages.
        expect(s.ends).toEqual([]);
        expect(s.stream.isClosed).toBe(false);
        // And the stream still takes agent audio.
        const before = s.stream.stats.agentSamples;
        const audio = validAudio(profile);
        s.conn.ws.send(audio.data);
        await until(() => s.stream.stats.agentSamples >= before + audio.samples, "the agent audio");
      }),
      runs(25),
    );
    await s.stream.close("remote-hangup");
    await until(() => s.conn.closed, "the socket to close");
    expect(s.conn.closed!.code).toBe(1000);
    expect(s.link.hasHandler(0)).toBe(false);
  });

});

// One socket for every protocol (bridge/pipeline/socket.ts): its frames are fuzzed once.
describe("a pipeline that breaks the WebSocket framing", () => {
  const profile = PROFILES[0][1];
  it("ends the call as a drop, and closes the socket", async () => {
    const rawFrame = fc.oneof(
      fc.uint8Array({ minLength: 2, maxLength: 64 }),
      fc.constantFrom(
        Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0, 0, 0, 0, 0]), // masked (servers never mask)
        Buffer.from([0x8f, 0x00]), // opcode 15
        Buffer.from([0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // a 2^63-byte message
        Buffer.from([0x81, 0x02, 0xc3, 0x28]), // invalid UTF-8 text
        Buffer.from([0x88, 0x02, 0x03, 0xe7]), // close code 999
        Buffer.from([0x09, 0x00]), // a fragmented ping
      ),
    );
    await fc.assert(
      fc.asyncProperty(rawFrame, async (bytes) => {
        const s = await openStream(profile);
        (s.conn.ws as unknown as { _socket: { write(b: Uint8Array): void } })._socket.write(bytes);
        // An incomplete frame waits for more; a pipeline gone that quiet is the heartbeat's to find.
        await until(() => s.ends.length > 0, "a drop", 150).catch(() => {});
        // Or it was a frame ws could use (a message, counted or played): the call goes on.
        if (s.ends.length) expect(s.ends.length === 1 && ["pipeline-closed", "pipeline-message-too-big"].includes(s.ends[0]), String(s.ends)).toBe(true);
        await s.stream.close("test over");
        s.conn.ws.terminate();
        await until(() => s.conn.closed, "the socket to close");
      }),
      runs(25),
    );
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, until, type Stack } from "./support/stack.ts";
import { startTestPipeline, type SeenStream } from "./support/twilio-pipeline.ts";

const ALL = "123A456B789C*0#D";

/** In-band DTMF from the caller, through Opus and Chrome, detected by the host and sent to the pipeline. */
describe("DTMF from the caller", () => {
  let stack: Stack;
  let pipeline: Awaited<ReturnType<typeof startTestPipeline>>;
  beforeAll(async () => {
    pipeline = await startTestPipeline();
    // A wideband pipeline: the call stays on Opus, the hard case for in-band tones.
    stack = await startStack({ PIPELINE_URL: pipeline.url, PIPELINE_AUDIO: "l16-16000" });
  });
  afterAll(async () => {
    await stack?.stop();
    await pipeline?.close();
  });
  const digitsOf = (s: SeenStream) =>
    s.messages
      .filter((m) => m.event === "dtmf")
      .map((m) => (m.dtmf as { track: string; digit: string }).digit)
      .join("");

  it("detects all 16 digits sent in-band through Opus, in order, each once", async () => {
    const placed = await stack.placeCall({ from: "+15550007000", play: "silence", codecs: ["opus"] });
    const stream = await until(() => pipeline.streams.find((s) => s.start?.callSid === placed.telephonySessionId), "the stream");
    await until(async () => (await stack.twinState(placed.callId)) === "answered", "answer");
    await new Promise((r) => setTimeout(r, 500));
    expect((await stack.twinCall(placed.callId)).codec).toBe("opus");
    const res = await fetch(`${stack.twin.controlUrl}/calls/${placed.callId}/dtmf`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ digits: ALL, mode: "inband" }) });
    expect(res.status).toBe(202);
    await until(() => digitsOf(stream).length >= ALL.length, "16 digits", 8000);
    await new Promise((r) => setTimeout(r, 500));
    expect(digitsOf(stream)).toBe(ALL);
    const dtmf = stream.messages.find((m) => m.event === "dtmf")!;
    expect(Object.keys(dtmf)).toEqual(["event", "streamSid", "sequenceNumber", "dtmf"]);
    expect(dtmf.dtmf).toEqual({ track: "inbound_track", digit: "1" });
    await stack.hangupFromCaller(placed.callId);
  });

  it("finds no digit in speech", async () => {
    const placed = await stack.placeCall({ from: "+15550007001", play: "wav:examples/audio/caller-speech.wav,wav:examples/audio/caller-speech.wav", codecs: ["opus"], hangupAfterMs: 9500 });
    const stream = await until(() => pipeline.streams.find((s) => s.start?.callSid === placed.telephonySessionId), "the stream");
    await until(async () => (await stack.twinState(placed.callId)) === "ended", "the speech to finish", 20_000);
    expect(stream.messages.filter((m) => m.event === "media").length).toBeGreaterThan(400);
    expect(digitsOf(stream)).toBe("");
  });
});

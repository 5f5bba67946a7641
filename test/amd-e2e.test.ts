import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, until, type Stack } from "./support/stack.ts";
import { startTestPipeline } from "./support/twilio-pipeline.ts";

const API_TOKEN = "amd-token-0123456789abcdef0123";
const SPEECH = "wav:examples/audio/caller-speech.wav";
const HUMAN = `${SPEECH}/600,silence`;
// A voicemail greeting: ~5.8 s of speech, a short pause, the beep.
const MACHINE = `${SPEECH},${SPEECH}/1500,silence/400,tone:1000/400,silence`;
const BEEP_AT_MS = 4350 + 1500 + 400;

/** Outbound calls with answering-machine detection, the callee's audio played by the twin. */
describe("answering-machine detection on outbound calls", () => {
  let stack: Stack;
  let pipeline: Awaited<ReturnType<typeof startTestPipeline>>;
  const place = async (to: string, mode: string) => {
    const res = await fetch(`${stack.httpUrl}/calls`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${API_TOKEN}` },
      body: JSON.stringify({ to, amd: { mode } }),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string };
  };
  const hostCall = (id: string) => stack.host.calls.get(id)!;

  beforeAll(async () => {
    pipeline = await startTestPipeline();
    stack = await startStack({ PIPELINE_URL: pipeline.url, API_TOKEN });
    // 425 Hz ringback (1 s on), a pause while the callee picks up, then "hello".
    const RINGING_HUMAN = `tone:425@-18/1000,silence/1200,${HUMAN}`;
    for (const [n, play] of [["16507770100", HUMAN], ["16507770200", MACHINE], ["16507770201", MACHINE], ["16507770300", RINGING_HUMAN]]) {
      await fetch(`${stack.twin.controlUrl}/callees/${n}`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ play }) });
    }
  });
  afterAll(async () => {
    await stack?.stop();
    await pipeline?.close();
  });

  it("a short hello and silence is a human: the pipeline joins with amd=human", async () => {
    const call = await place("16507770100", "human-only");
    const stream = await until(() => pipeline.streams.find((s) => s.start?.customParameters.callId === call.id), "the pipeline to join", 8000);
    expect(hostCall(call.id).amd!.result).toBe("human");
    expect(stream.start!.customParameters.amd).toBe("human");
    // Decided within ~2 s of the greeting's end (0.6 s).
    expect(hostCall(call.id).amd!.atMs).toBeLessThan(2600);
    await stack.host.hangup(call.id);
  });

  it("a long greeting ending in a beep is a machine: with leave-message the pipeline joins after the beep", async () => {
    const call = await place("16507770200", "leave-message");
    const stream = await until(() => pipeline.streams.find((s) => s.start?.customParameters.callId === call.id), "the pipeline to join after the beep", 15_000);
    const c = hostCall(call.id);
    expect(c.amd!.result).toBe("machine");
    expect(stream.start!.customParameters).toMatchObject({ amd: "machine", amdBeep: "true" });
    // The start went out after the beep began (audio clock from media connect).
    const startAt = stream.receivedAtMs[stream.messages.findIndex((m) => m.event === "start")];
    expect(startAt - c.mediaConnectedAtMs!).toBeGreaterThan(BEEP_AT_MS);
    await stack.host.hangup(call.id);
  });

  it("ringback before the pickup is not taken for a greeting or a beep", async () => {
    const call = await place("16507770300", "leave-message");
    await until(() => pipeline.streams.find((s) => s.start?.customParameters.callId === call.id), "the pipeline to join", 10_000);
    expect(hostCall(call.id).amd!.result).toBe("human");
    await stack.host.hangup(call.id);
  });

  it("with human-only, a machine is hung up and the pipeline is never dialled", async () => {
    const call = await place("16507770201", "human-only");
    await until(() => hostCall(call.id).state === "ended", "the machine to be hung up", 10_000);
    expect(hostCall(call.id).endReason).toBe("amd-machine");
    expect(pipeline.streams.some((s) => s.start?.customParameters.callId === call.id)).toBe(false);
  });
});

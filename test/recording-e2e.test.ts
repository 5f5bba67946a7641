import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import wavefile from "wavefile";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dominantHz, goertzel } from "../twin/caller/analysis.ts";
import { startStack, until, type Stack } from "./support/stack.ts";
import { speakTone, startTestPipeline } from "./support/twilio-pipeline.ts";

describe("call recordings (RECORDINGS_DIR)", () => {
  let stack: Stack;
  let pipeline: Awaited<ReturnType<typeof startTestPipeline>>;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "rec-"));
    pipeline = await startTestPipeline(() => speakTone(880));
    stack = await startStack({ PIPELINE_URL: pipeline.url, RECORDINGS_DIR: dir });
  });
  afterAll(async () => {
    await stack?.stop();
    await pipeline?.close();
  });

  it("writes a stereo WAV: the caller on the left, the agent as played on the right", async () => {
    const placed = await stack.placeCall({ from: "+15550004000", play: "tone:440", hangupAfterMs: 3000 });
    const hostCall = await until(() => stack.host.calls.byTelephonySession(placed.telephonySessionId), "host call");
    await until(() => hostCall.recording, "the recording to be saved", 15_000);
    const files = (await readdir(dir)).filter((f) => f.endsWith(".wav"));
    expect(files).toHaveLength(1);
    expect(files[0]).toContain(placed.telephonySessionId);
    const wav = new wavefile.WaveFile(await readFile(join(dir, files[0])));
    const fmt = wav.fmt as { numChannels: number; sampleRate: number };
    expect(fmt.numChannels).toBe(2);
    expect(fmt.sampleRate).toBe(8000);
    wav.toBitDepth("32f");
    const [left, right] = wav.getSamples(false, Float32Array) as unknown as Float32Array[];
    // As long as the call was answered (±100 ms), and each side carries its own tone only.
    const call = await stack.twinCall(placed.callId);
    expect(Math.abs((left.length / 8000) * 1000 - (call.endedAtMs! - call.answeredAtMs!))).toBeLessThan(300);
    const from = Math.floor(left.length / 3);
    expect(Math.abs(dominantHz(left, 8000, from) - 440)).toBeLessThan(8.8);
    expect(Math.abs(dominantHz(right, 8000, from) - 880)).toBeLessThan(17.6);
    expect(goertzel(left, from, 4000, 880, 8000) / goertzel(left, from, 4000, 440, 8000)).toBeLessThan(0.001);
    expect(goertzel(right, from, 4000, 440, 8000) / goertzel(right, from, 4000, 880, 8000)).toBeLessThan(0.001);
    expect(hostCall.recording!.durationMs).toBe(Math.round((left.length / 8000) * 1000));
  });
});

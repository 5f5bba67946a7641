import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { goertzel } from "../twin/caller/analysis.ts";
import { startStack, until, type Stack } from "./support/stack.ts";
import { startTestPipeline, type Behaviour } from "./support/twilio-pipeline.ts";

const RATE = 8000;
function tone(hz: number, ms: number, dbfs = -12, phase = 0): Int16Array {
  const amp = 32767 * 10 ** (dbfs / 20);
  return Int16Array.from({ length: (RATE * ms) / 1000 }, (_, i) => Math.round(amp * Math.sin((2 * Math.PI * hz * (i + phase)) / RATE)));
}

/**
 * A tone's longest unbroken run in 10 ms blocks (above -30 dBFS at `hz`). Runs, not first-to-last
 * spans: a block straddling two neighbouring tones can leak a third frequency for one block.
 */
function longestRun(samples: Float32Array, rate: number, hz: number): { startMs: number; ms: number } | undefined {
  const block = rate / 100;
  let best: { startMs: number; ms: number } | undefined;
  let start = -1;
  for (let i = 0, b = 0; ; i += block, b++) {
    const on = i + block <= samples.length && goertzel(samples, i, block, hz, rate) > 1e-3;
    if (on && start < 0) start = b;
    if (!on && start >= 0) {
      if (!best || (b - start) * 10 > best.ms) best = { startMs: start * 10, ms: (b - start) * 10 };
      start = -1;
    }
    if (i + block > samples.length) return best;
  }
}

/** Standing backlogs converge; bursts play complete, as the caller hears them. */
describe("playout: a held backlog drains, a burst plays in full", () => {
  const behaviours = new Map<string, Behaviour>();
  let pipeline: Awaited<ReturnType<typeof startTestPipeline>>;
  let stack: Stack;

  beforeAll(async () => {
    pipeline = await startTestPipeline((start) => behaviours.get(start.customParameters.from));
    stack = await startStack({ PIPELINE_URL: pipeline.url });
  });
  afterAll(async () => {
    await stack?.stop();
    await pipeline?.close();
  });

  async function call(from: string, behaviour: Behaviour, hangupAfterMs: number) {
    behaviours.set(from, behaviour);
    const placed = await stack.placeCall({ from, play: "silence", hangupAfterMs });
    await until(async () => (await stack.twinState(placed.callId)) === "ended", "the call to end", hangupAfterMs + 10_000);
    return { rec: await stack.recording(placed.callId), hostCall: stack.host.calls.byTelephonySession(placed.telephonySessionId)! };
  }

  it("a greeting held before media, then a real-time pipeline: the held second is trimmed away", async () => {
    // Each second, 200 ms of tone (its own frequency) and 800 ms of silence, paced by the clock.
    const freqs = [600, 900, 1200, 1500, 1800];
    const sentAt: number[] = [];
    const { rec, hostCall } = await call(
      "+15550002001",
      (s) => {
        // A one-second greeting at once: held until media is up, so none of it is lost.
        s.sendPcm(tone(400, 1000));
        const t0 = performance.now();
        let n = 0;
        const timer = setInterval(() => {
          if (s.ws.readyState !== s.ws.OPEN) return clearInterval(timer);
          // Every frame that is due (a late timer catches up): real time on average.
          for (const due = Math.floor((performance.now() - t0) / 20); n <= due; n++) {
            const cycle = Math.floor(n / 50);
            const inTone = n % 50 < 10 && cycle < freqs.length;
            if (n % 50 === 0 && inTone) sentAt[cycle] = Date.now();
            s.sendPcm(inTone ? tone(freqs[cycle], 20, -12, (n % 50) * 160) : new Int16Array(160));
          }
        }, 20);
        return () => clearInterval(timer);
      },
      8000,
    );
    const runs = freqs.map((hz) => longestRun(rec.samples, rec.rate, hz));
    const delays = runs.map((r, i) => (r ? rec.startedAtMs + r.startMs - sentAt[i] : NaN));
    console.log(`pipeline → caller per tone: ${delays.map((d) => d.toFixed(0)).join(", ")} ms; trimmed ${hostCall.streamStats!.trimmedMs} ms`);
    // Every tone arrived whole: only silence was cut.
    runs.forEach((r, i) => {
      expect(r, `${freqs[i]} Hz`).toBeDefined();
      expect(Math.abs(r!.ms - 200), `${freqs[i]} Hz lasts ${r!.ms} ms`).toBeLessThanOrEqual(20);
    });
    // The first tone waited behind the greeting (a second and more); by the last, the held
    // second is gone: cut from the pauses, and counted.
    expect(delays[0]).toBeGreaterThan(1000);
    expect(delays.at(-1)!).toBeLessThan(delays[0] - 800);
    expect(hostCall.streamStats!.trimmedMs).toBeGreaterThan(800);
  });

  it("plays a burst of ten 1 s tones complete and in order, with nothing trimmed", async () => {
    // 300 Hz apart: 10 ms analysis blocks cannot tell closer tones apart.
    const freqs = [300, 600, 900, 1200, 1500, 1800, 2100, 2400, 2700, 3000];
    const { rec, hostCall } = await call(
      "+15550002002",
      (s) => {
        for (const hz of freqs) s.sendPcm(tone(hz, 1000), RATE);
      },
      12_500,
    );
    const runs = freqs.map((hz) => longestRun(rec.samples, rec.rate, hz));
    console.log(`runs heard: ${runs.map((r) => r?.ms).join(", ")} ms`);
    runs.forEach((r, i) => {
      expect(r, `${freqs[i]} Hz`).toBeDefined();
      // Each second of audio plays as one unbroken second (a block at each seam may go either way).
      expect(Math.abs(r!.ms - 1000), `${freqs[i]} Hz lasts ${r!.ms} ms`).toBeLessThanOrEqual(40);
      if (i > 0) expect(r!.startMs).toBeGreaterThanOrEqual(runs[i - 1]!.startMs + 960);
    });
    expect(hostCall.streamStats!.trimmedMs).toBe(0);
  });
});

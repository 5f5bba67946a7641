import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { goertzel, rmsDbfs, toneSpan } from "../twin/caller/analysis.ts";
import { startStack, until, type Stack } from "./support/stack.ts";
import { startTestPipeline, type Behaviour, type SeenStream } from "./support/twilio-pipeline.ts";

const RATE = 8000;
function tone(hz: number, ms: number, dbfs = -12): Int16Array {
  const amp = 32767 * 10 ** (dbfs / 20);
  return Int16Array.from({ length: (RATE * ms) / 1000 }, (_, i) => Math.round(amp * Math.sin((2 * Math.PI * hz * i) / RATE)));
}

/** Playout as the caller hears it: bursts in real time, gaps as silence, marks, barge-in. */
describe("playout: marks, clear, bursts and gaps", () => {
  const behaviours = new Map<string, Behaviour>();
  const markTimes = new Map<string, Map<string, number>>();
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

  /** Marks the pipeline got back, with when (wall clock, same clock as the caller's recording). */
  const watchMarks = (s: SeenStream) => {
    const seen = new Map<string, number>();
    s.ws.on("message", (d) => {
      const m = JSON.parse(d.toString());
      if (m.event === "mark") seen.set(m.mark.name, Date.now());
    });
    return seen;
  };

  async function call(from: string, behaviour: Behaviour, hangupAfterMs: number) {
    behaviours.set(from, behaviour);
    const placed = await stack.placeCall({ from, play: "silence", hangupAfterMs });
    await until(async () => (await stack.twinCall(placed.callId)).state === "ended", "the call to end", hangupAfterMs + 10_000);
    const stream = pipeline.streams.find((s) => s.start?.callSid === placed.telephonySessionId)!;
    return { placed, stream, rec: await stack.recording(placed.callId), hostCall: stack.host.calls.byTelephonySession(placed.telephonySessionId)! };
  }

  it("plays a 10 s reply sent in a burst in real time, complete and in order", async () => {
    // 300 Hz apart: 10 ms analysis blocks cannot tell closer tones apart.
    const freqs = [300, 600, 900, 1200, 1500, 1800, 2100, 2400, 2700, 3000];
    let sendMs = 0;
    const { rec, hostCall } = await call(
      "+15550001001",
      (s) => {
        const t0 = performance.now();
        // One media message per second of audio: Twilio takes any chunk size.
        for (const hz of freqs) s.sendPcm(tone(hz, 1000), RATE);
        sendMs = performance.now() - t0;
      },
      12_500,
    );
    expect(sendMs).toBeLessThan(200);
    const spans = freqs.map((hz) => toneSpan(rec.samples, rec.rate, hz, -30));
    spans.forEach((span, i) => {
      expect(span, `${freqs[i]} Hz segment`).toBeDefined();
      // Each second of audio lasts a second (±40 ms), with no dropout inside.
      expect(Math.abs(span!.endMs - span!.startMs - 1000)).toBeLessThanOrEqual(40);
      expect(span!.longestGapMs).toBe(0);
      if (i > 0) expect(span!.startMs).toBeGreaterThanOrEqual(spans[i - 1]!.endMs - 20);
    });
    // The whole reply takes 10 s of wall time: not sped up, not stretched.
    expect(Math.abs(spans[9]!.endMs - spans[0]!.startMs - 10_000)).toBeLessThanOrEqual(60);
    expect(hostCall.streamStats!.underruns).toBe(0);
  });

  it("returns a mark only after the caller could have heard the audio before it", async () => {
    let marks = new Map<string, number>();
    const { rec } = await call(
      "+15550001002",
      (s) => {
        marks = watchMarks(s);
        s.sendPcm(tone(500, 1000));
        s.send({ event: "mark", streamSid: s.start!.streamSid, mark: { name: "after-500" } });
        s.sendPcm(tone(900, 600));
        s.send({ event: "mark", streamSid: s.start!.streamSid, mark: { name: "after-900" } });
      },
      3500,
    );
    const a = toneSpan(rec.samples, rec.rate, 500, -30)!;
    const b = toneSpan(rec.samples, rec.rate, 900, -30)!;
    const heardA = rec.startedAtMs + a.endMs;
    const heardB = rec.startedAtMs + b.endMs;
    const lateA = marks.get("after-500")! - heardA;
    const lateB = marks.get("after-900")! - heardB;
    console.log(`marks returned ${lateA} ms and ${lateB} ms after the caller heard the audio before them`);
    // Recording blocks are 10 ms: a mark may not come back before the last block the caller heard.
    expect(lateA).toBeGreaterThanOrEqual(-10);
    expect(lateB).toBeGreaterThanOrEqual(-10);
    // …and not long after either.
    expect(lateA).toBeLessThan(150);
    expect(lateB).toBeLessThan(150);
  });

  it("clear silences the caller fast and returns the pending marks", async () => {
    let clearAt = 0;
    let marks = new Map<string, number>();
    const { rec } = await call(
      "+15550001003",
      (s) => {
        marks = watchMarks(s);
        s.sendPcm(tone(700, 5000));
        s.send({ event: "mark", streamSid: s.start!.streamSid, mark: { name: "reply-end" } });
        // Barge-in 1.5 s into the reply: the caller started talking.
        const firstAudio = setInterval(() => {
          if (!s.messages.some((m) => m.event === "media")) return;
          clearInterval(firstAudio);
          setTimeout(() => {
            clearAt = Date.now();
            s.send({ event: "clear", streamSid: s.start!.streamSid });
          }, 1500);
        }, 5);
      },
      3500,
    );
    const span = toneSpan(rec.samples, rec.rate, 700, -40)!;
    const silentAt = rec.startedAtMs + span.endMs;
    const bargeInMs = silentAt - clearAt;
    console.log(`clear → silence in the caller's recording: ${bargeInMs} ms (includes the WebRTC path)`);
    expect(span.endMs - span.startMs).toBeLessThan(2500);
    expect(bargeInMs).toBeLessThan(150);
    expect(marks.get("reply-end")! - clearAt).toBeLessThan(50);
    // After the clear: silence, not the rest of the reply.
    const after = Math.floor(((span.endMs + 100) * rec.rate) / 1000);
    expect(rmsDbfs(rec.samples, after, Math.min(rec.samples.length, after + rec.rate))).toBeLessThan(-50);
  });

  it("fills a sender's 300 ms gaps with clean silence, without underruns", async () => {
    const { rec, hostCall } = await call(
      "+15550001004",
      (s) => {
        let n = 0;
        const timer = setInterval(() => {
          if (n++ >= 6 || s.ws.readyState !== s.ws.OPEN) return clearInterval(timer);
          s.sendPcm(tone(600, 200));
        }, 500);
      },
      4500,
    );
    const block = rec.rate / 100;
    const on: boolean[] = [];
    for (let i = 0; i + block <= rec.samples.length; i += block) on.push(goertzel(rec.samples, i, block, 600, rec.rate) > 1e-4);
    // Runs of tone and of silence, in 10 ms blocks.
    const runs: Array<[boolean, number]> = [];
    for (const v of on) runs.length && runs[runs.length - 1][0] === v ? runs[runs.length - 1][1]++ : runs.push([v, 1]);
    const tones = runs.filter(([v]) => v).map(([, n]) => n * 10);
    const gaps = runs.slice(1, -1).filter(([v]) => !v).map(([, n]) => n * 10);
    expect(tones.length).toBe(6);
    for (const t of tones) expect(Math.abs(t - 200)).toBeLessThanOrEqual(20);
    for (const g of gaps.slice(0, 5)) expect(Math.abs(g - 300)).toBeLessThanOrEqual(20);
    // The gaps are clean: no clicks or noise where there is no audio.
    const first = toneSpan(rec.samples, rec.rate, 600, -40)!;
    const gapMid = Math.floor(((first.startMs + 350) * rec.rate) / 1000);
    let peak = 0;
    for (let i = gapMid - 400; i < gapMid + 400; i++) peak = Math.max(peak, Math.abs(rec.samples[i]));
    expect(peak).toBeLessThan(0.01);
    expect(hostCall.streamStats!.underruns).toBe(0);
  });

  it("counts the holes a late sender leaves inside speech (50 ms gaps), and only those", async () => {
    const { hostCall } = await call(
      "+15550001005",
      (s) => {
        let n = 0;
        // 200 ms of tone every 250 ms, from when the caller's audio flows (media is up): four 50 ms holes.
        const waitMedia = setInterval(() => {
          if (!s.messages.some((m) => m.event === "media")) return;
          clearInterval(waitMedia);
          const timer = setInterval(() => {
            if (n++ >= 5 || s.ws.readyState !== s.ws.OPEN) return clearInterval(timer);
            s.sendPcm(tone(600, 200));
          }, 250);
        }, 5);
      },
      3500,
    );
    expect(hostCall.streamStats!.underruns).toBe(4);
  });
});

import { describe, expect, it } from "vitest";
import { Playout } from "../bridge/playout.ts";

/** Playout bookkeeping without a browser: the page is played by hand through caller-frame headers. */
function setup(opts: { leadMs?: number; maxQueueMs?: number } = {}) {
  const sent: Int16Array[] = [];
  let clears = 0;
  const marks: string[] = [];
  const overflows: number[] = [];
  const p = new Playout(
    { sendAgent: (pcm) => sent.push(pcm), clear: () => clears++ },
    { sampleRate: 8000, leadMs: opts.leadMs ?? 40, maxQueueMs: opts.maxQueueMs ?? 120_000, sendPathMs: 0 },
    { onMark: (n) => marks.push(n), onOverflow: (d) => overflows.push(d) },
  );
  let consumed = 0;
  /** The page played `n` samples and reports it in a caller frame. */
  const play = (n: number) => {
    consumed += n;
    p.onCallerFrame({ slot: 0, seq: 0, consumed: consumed >>> 0, queued: 0, holes: 0 });
  };
  return { p, sent, marks, overflows, play, clears: () => clears, sentSamples: () => sent.reduce((s, x) => s + x.length, 0) };
}
const tick = () => new Promise((r) => setTimeout(r, 5));

describe("playout", () => {
  it("holds audio until media is up, then keeps only the lead in the page", () => {
    const t = setup();
    t.p.push(new Int16Array(8000));
    expect(t.sentSamples()).toBe(0);
    t.p.start();
    expect(t.sentSamples()).toBe(320); // 40 ms at 8 kHz
    t.play(160);
    expect(t.sentSamples()).toBe(480);
    expect(t.sent.every((f) => f.length === 160)).toBe(true);
  });

  it("playingSamples: the last report plus the time since, never past what the page holds", () => {
    const t = setup();
    t.p.start();
    t.p.push(new Int16Array(8000));
    const before = performance.now();
    t.play(160);
    const after = performance.now();
    // 10 ms after the report: 80 more samples have played at 8 kHz.
    expect(t.p.playingSamples(after + 10)).toBeGreaterThanOrEqual(160 + 80);
    expect(t.p.playingSamples(before + 10)).toBeLessThanOrEqual(160 + 80);
    // The page holds the 40 ms lead (320 samples past what it consumed): no further.
    expect(t.p.playingSamples(after + 1000)).toBe(t.p.sentSamples);
    expect(t.p.sentSamples).toBe(160 + 320);
    // Nothing in the page: nothing plays, however long since.
    const dry = setup();
    dry.p.start();
    dry.play(0);
    expect(dry.p.playingSamples(performance.now() + 1000)).toBe(0);
  });

  it("returns a mark once the audio before it is consumed, in order", async () => {
    const t = setup();
    t.p.start();
    t.p.push(new Int16Array(400));
    t.p.mark("a");
    t.p.push(new Int16Array(400));
    t.p.mark("b");
    // The page can only consume what was sent to it: play in the steps the lead allows.
    t.play(160);
    t.play(160);
    t.play(79);
    await tick();
    expect(t.marks).toEqual([]);
    t.play(1);
    await tick();
    expect(t.marks).toEqual(["a"]);
    t.play(160);
    t.play(160);
    t.play(80);
    await tick();
    expect(t.marks).toEqual(["a", "b"]);
  });

  it("a mark with nothing before it comes back at once", async () => {
    const t = setup();
    t.p.start();
    t.p.mark("empty");
    await tick();
    expect(t.marks).toEqual(["empty"]);
  });

  it("clear drops the queue, tells the page, and returns pending marks in order", () => {
    const t = setup();
    t.p.start();
    t.p.push(new Int16Array(8000));
    t.p.mark("x");
    t.p.mark("y");
    expect(t.p.clear()).toEqual(["x", "y"]);
    expect(t.clears()).toBe(1);
    const before = t.sentSamples();
    t.play(320);
    expect(t.sentSamples()).toBe(before);
    // New audio after a clear plays, and its marks count from the new position.
    t.p.push(new Int16Array(160));
    t.p.mark("z");
    expect(t.sentSamples()).toBe(before + 160);
  });

  it("bounds the queue: audio beyond maxQueueMs is refused with an overflow report", () => {
    const t = setup({ maxQueueMs: 1000 });
    t.p.push(new Int16Array(6000));
    t.p.push(new Int16Array(6000));
    expect(t.overflows).toEqual([4000]);
    expect(t.p.bufferedMs).toBe(1000);
    t.p.push(new Int16Array(160));
    expect(t.overflows).toEqual([4000, 160]);
  });

});

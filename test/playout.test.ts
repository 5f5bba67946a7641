import { describe, expect, it } from "vitest";
import { MAX_LEAD_MS, Playout } from "../bridge/playout.ts";
import { TRIM_BASE_MAX_MS, TRIM_BASE_MS, TRIM_FADE_MS, TRIM_MARGIN_MS } from "../bridge/playout-trim.ts";
import { countAllocations } from "./support/alloc-count.ts";

/** Playout bookkeeping without a browser: the page is played by hand through caller-frame headers. */
function setup(opts: { leadMs?: number; maxQueueMs?: number } = {}) {
  const sent: Int16Array[] = [];
  let clears = 0;
  const marks: string[] = [];
  const overflows: number[] = [];
  const p = new Playout(
    { sendAgent: (pcm) => sent.push(pcm.slice()), clear: () => clears++ },
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

const RATE = 8000;
const FRAME = 160;
function tone(hz: number, n: number, amp: number, phase = 0): Int16Array {
  return Int16Array.from({ length: n }, (_, i) => Math.round(amp * Math.sin((2 * Math.PI * hz * (i + phase)) / RATE)));
}

/**
 * A page that plays in real time: every 20 ms tick the pipeline acts, then the page plays up to
 * one frame of what it was sent and reports it (holes as it counts them). Everything it played is
 * kept, in order, so joins can be checked sample by sample.
 */
function realTime(leadMs = 40) {
  const played: number[] = [];
  const inPage: Int16Array[] = [];
  let pageQueued = 0;
  let consumed = 0;
  let holes = 0;
  const p = new Playout(
    {
      sendAgent: (pcm) => {
        // Playout reuses its frame buffer: the page keeps a copy, as the page link's frame is.
        inPage.push(pcm.slice());
        pageQueued += pcm.length;
      },
      clear: () => {},
    },
    { sampleRate: RATE, leadMs, maxQueueMs: 120_000, sendPathMs: 0 },
    { onMark: () => {}, onOverflow: () => {} },
  );
  const report = () => p.onCallerFrame({ slot: 0, seq: 0, consumed: consumed >>> 0, queued: pageQueued, holes: holes & 0xff });
  /**
   * One 20 ms tick: `pipeline` pushes, then the page plays a frame (or as much as it holds). With
   * `hole`, the page had run dry and audio resumed: the frame that reports the resumed audio
   * carries the hole too (the worklet counts it in the quantum it plays).
   */
  const tick = (pipeline?: () => void, hole = false) => {
    pipeline?.();
    if (hole) holes++;
    let n = Math.min(FRAME, pageQueued);
    consumed += n;
    pageQueued -= n;
    while (n > 0) {
      const head = inPage[0];
      const take = Math.min(n, head.length);
      for (let i = 0; i < take; i++) played.push(head[i]);
      if (take === head.length) inPage.shift();
      else inPage[0] = head.subarray(take);
      n -= take;
    }
    report();
  };
  const ms = (n: number) => (n * 1000) / RATE;
  return { p, tick, played, ms, drain: () => (consumed = consumed + pageQueued, (pageQueued = 0), inPage.splice(0), report()) };
}

/** The largest step between neighbouring samples. */
function maxJump(x: ArrayLike<number>): number {
  let max = 0;
  for (let i = 1; i < x.length; i++) max = Math.max(max, Math.abs(x[i] - x[i - 1]));
  return max;
}

describe("playout: standing backlogs are trimmed, bursts are not", () => {
  const AMP = 8000;
  // Not 200 Hz: its 40-sample period would make every 5 ms slice phase-neutral, hiding a hard cut.
  const HZ = 230;
  /** A 230 Hz tone's own largest step, and what a crossfade of TRIM_FADE_MS may add to it. */
  const natural = AMP * Math.sin((2 * Math.PI * HZ) / RATE);
  const fade = Math.round((TRIM_FADE_MS * RATE) / 1000);
  const allowed = natural + (2 * AMP) / (fade + 1) + 2;

  it("converges a held second fed on at real time to the lead, in slices that do not click", () => {
    const t = realTime();
    // A one-second greeting held before media is up, then speech with no pause, at real time.
    let phase = 0;
    const next = (n: number) => {
      const pcm = tone(HZ, n, AMP, phase);
      phase += n;
      return pcm;
    };
    t.p.push(next(RATE));
    t.p.start();
    const buffered: number[] = [];
    for (let k = 0; k < 50 * 40; k++) {
      t.tick(() => t.p.push(next(FRAME)));
      buffered.push(t.p.bufferedMs);
    }
    // Over 1 s queued at first; at the end the queue is back at the lead (within the margin).
    expect(buffered[10]).toBeGreaterThanOrEqual(1000);
    expect(buffered.at(-1)).toBeLessThanOrEqual(TRIM_BASE_MS + TRIM_MARGIN_MS);
    // What was cut is what the backlog was over the base: counted, and no more.
    expect(t.ms(t.p.trimmedSamples)).toBeGreaterThan(1000 - TRIM_BASE_MS - TRIM_MARGIN_MS);
    expect(t.ms(t.p.trimmedSamples)).toBeLessThanOrEqual(1000 + 20 - TRIM_BASE_MS);
    // Dozens of 5 ms slices at all phases of the tone, yet no step beyond what a crossfade allows
    // (a hard cut at a random phase steps by up to twice the amplitude).
    expect(t.p.trimmedSamples / 40).toBeGreaterThan(100);
    expect(maxJump(t.played)).toBeLessThanOrEqual(allowed);
    // Once converged it stays: the last 5 s never stood above base + margin.
    expect(Math.max(...buffered.slice(-250))).toBeLessThanOrEqual(TRIM_BASE_MS + TRIM_MARGIN_MS);
  });

  it("drops silence first: a paced reply with pauses converges in seconds and keeps every tone sample", () => {
    const t = realTime();
    t.p.push(tone(HZ, RATE, AMP));
    t.p.start();
    // Each second: 200 ms of tone, 800 ms of silence, sent a frame at a time.
    let k = 0;
    const paced = () => t.p.push(k++ % 50 < 10 ? tone(HZ, FRAME, AMP, (k - 1) * FRAME) : new Int16Array(FRAME));
    const buffered: number[] = [];
    for (let i = 0; i < 50 * 6; i++) {
      t.tick(paced);
      buffered.push(t.p.bufferedMs);
    }
    expect(buffered[10]).toBeGreaterThanOrEqual(1000);
    // Within 4 s of the start the backlog is gone.
    expect(Math.max(...buffered.slice(200))).toBeLessThanOrEqual(TRIM_BASE_MS + TRIM_MARGIN_MS);
    expect(t.ms(t.p.trimmedSamples)).toBeGreaterThan(800);
    // Only silence was cut: every sample of tone pushed was played (the greeting and 6 replies).
    t.drain();
    const loud = (x: ArrayLike<number>) => Array.prototype.filter.call(x, (v: number) => Math.abs(v) >= 328).length;
    const tonePushed = loud(tone(HZ, RATE, AMP)) + 6 * loud(tone(HZ, 10 * FRAME, AMP));
    expect(loud(t.played)).toBeGreaterThanOrEqual(tonePushed - 6 * 2);
    expect(maxJump(t.played)).toBeLessThanOrEqual(allowed);
  });

  it("a pipeline late after its backlog was trimmed gets a frame more of floor each time, up to the max", () => {
    const t = realTime();
    let phase = 0;
    const next = () => {
      const pcm = tone(HZ, FRAME, AMP, phase);
      phase += FRAME;
      return pcm;
    };
    t.p.push(tone(HZ, RATE, AMP));
    phase = RATE;
    t.p.start();
    // Converged (as above): what stands is under base + margin.
    for (let k = 0; k < 50 * 40; k++) t.tick(() => t.p.push(next()));
    expect(t.p.bufferedMs).toBeLessThanOrEqual(TRIM_BASE_MS + TRIM_MARGIN_MS);
    expect(t.p.trimBaseMs).toBe(TRIM_BASE_MS);
    // The pipeline is late by what stands: the page plays what it holds and runs dry, with nothing
    // waiting here; then the late frames come at once.
    const late = () => {
      const owed = Math.ceil(t.p.bufferedMs / 20) + 1;
      for (let i = 0; i < owed; i++) t.tick();
      t.tick(() => {
        for (let i = 0; i <= owed; i++) t.p.push(next());
      }, true);
    };
    late();
    expect(t.p.trimBaseMs).toBe(TRIM_BASE_MS + 20);
    for (let i = 0; i < 20; i++) late();
    expect(t.p.trimBaseMs).toBe(TRIM_BASE_MAX_MS);
    // A hole the host caused (audio waited here) grows the lead, not the floor.
    const lead = t.p.leadMs;
    t.p.push(tone(HZ, 4 * FRAME, AMP));
    t.tick(undefined, true);
    expect(t.p.trimBaseMs).toBe(TRIM_BASE_MAX_MS);
    expect(t.p.leadMs).toBeGreaterThanOrEqual(lead);
  });

  it("a grown lead leaves no standing backlog: trimmed to the base, not to the lead", () => {
    const t = realTime(200);
    let phase = 0;
    t.p.push(tone(HZ, RATE, AMP));
    phase = RATE;
    t.p.start();
    for (let k = 0; k < 50 * 40; k++) {
      t.tick(() => {
        t.p.push(tone(HZ, FRAME, AMP, phase));
        phase += FRAME;
      });
    }
    expect(t.p.bufferedMs).toBeLessThanOrEqual(TRIM_BASE_MS + TRIM_MARGIN_MS);
  });

  it("plays a 10 s burst in full, in order: fed faster than real time, it is not trimmed", () => {
    const t = realTime();
    t.p.start();
    // Ten 1 s segments at once, each with its own level so order and completeness show.
    const burst = Array.from({ length: 10 }, (_, i) => new Int16Array(RATE).fill(1000 + 100 * i));
    for (const b of burst) t.p.push(b);
    for (let k = 0; k < 50 * 11; k++) t.tick();
    expect(t.p.trimmedSamples).toBe(0);
    expect(t.played.length).toBe(10 * RATE);
    for (let i = 0; i < 10; i++) expect(t.played.slice(i * RATE, (i + 1) * RATE).every((v) => v === 1000 + 100 * i)).toBe(true);
  });

  it("does not trim TTS streamed at twice real time, nor while it drains", () => {
    const t = realTime();
    t.p.start();
    // 8 s of audio fed at 2x for 4 s: the queue grows to 4 s, then drains at real time.
    let k = 0;
    for (let i = 0; i < 50 * 10; i++) t.tick(() => k++ < 200 && t.p.push(tone(HZ, 2 * FRAME, AMP, (k - 1) * 2 * FRAME)));
    expect(t.p.trimmedSamples).toBe(0);
    expect(t.played.length).toBe(8 * RATE);
  });

  it("a burst arriving while a backlog is trimmed stops the trim at once", () => {
    const t = realTime();
    let phase = 0;
    t.p.push(tone(HZ, RATE, AMP));
    phase = RATE;
    t.p.start();
    const feed = () => {
      t.p.push(tone(HZ, FRAME, AMP, phase));
      phase += FRAME;
    };
    // Wait until trimming runs (a window, then a window without silence).
    for (let k = 0; k < 50 * 3; k++) t.tick(feed);
    const before = t.p.trimmedSamples;
    expect(before).toBeGreaterThan(0);
    t.p.push(new Int16Array(5 * RATE).fill(3000));
    for (let k = 0; k < 50 * 2; k++) t.tick(feed);
    expect(t.p.trimmedSamples).toBe(before);
  });
});

describe("playout: the lead adapts to holes the host caused", () => {
  it("a hole with audio waiting here raises the lead a frame at a time, up to MAX_LEAD_MS", () => {
    const t = realTime();
    t.p.start();
    t.p.push(new Int16Array(30 * RATE).fill(1000));
    const leads = [t.p.leadMs];
    for (let i = 0; i < 12; i++) {
      for (let k = 0; k < 5; k++) t.tick();
      // The page starved although the host had seconds queued: its top-up came late.
      t.tick(undefined, true);
      leads.push(t.p.leadMs);
    }
    expect(leads.slice(0, 10)).toEqual([40, 60, 80, 100, 120, 140, 160, 180, 200, 200]);
    expect(Math.max(...leads)).toBe(MAX_LEAD_MS);
    // The page is now kept 200 ms ahead.
    t.tick();
    expect(t.p.sentSamples - t.p.playedSamples).toBe((MAX_LEAD_MS * RATE) / 1000);
    expect(t.p.underruns).toBe(12);
  });

  it("a hole with nothing queued here (the pipeline was late) leaves the lead alone", () => {
    const t = realTime();
    t.p.start();
    // 200 ms of audio every 250 ms: the page runs dry each time the host has nothing left, and
    // each next chunk mostly waits here after the hole (a later look would blame the host).
    t.p.push(new Int16Array(1600).fill(1000));
    for (let i = 0; i < 8; i++) {
      for (let k = 0; k < 12; k++) t.tick();
      t.tick(() => t.p.push(new Int16Array(1600).fill(1000)), true);
      for (let k = 0; k < 11; k++) t.tick();
    }
    expect(t.p.underruns).toBe(8);
    expect(t.p.leadMs).toBe(40);
  });
});

describe("playout: the per-frame path allocates nothing", () => {
  /** A page that plays a frame per report and sums what it was sent, without keeping anything. */
  function countingPage() {
    let consumed = 0;
    let samples = 0;
    let sum = 0;
    const buffers = new Set<ArrayBufferLike>();
    const header = { slot: 0, seq: 0, consumed: 0, queued: 0, holes: 0 };
    const p = new Playout(
      {
        sendAgent: (pcm) => {
          buffers.add(pcm.buffer);
          samples += pcm.length;
          for (let i = 0; i < pcm.length; i++) sum += pcm[i];
        },
        clear: () => {},
      },
      { sampleRate: RATE, leadMs: 40, maxQueueMs: 120_000, sendPathMs: 0 },
      { onMark: () => {}, onOverflow: () => {} },
    );
    const play = () => {
      consumed += FRAME;
      header.consumed = consumed >>> 0;
      p.onCallerFrame(header);
    };
    return { p, play, buffers, sent: () => ({ samples, sum }) };
  }

  it("sends 10 s of a burst frame by frame from one reused buffer, every sample in order", () => {
    const t = countingPage();
    // Pushed in uneven chunks (allocated here, before counting), each sample its own value.
    let v = 0;
    for (const n of [1000, 37, 4000, 163, 74_800]) t.p.push(Int16Array.from({ length: n }, () => (v++ % 20_000) - 10_000));
    t.p.start();
    const counts = countAllocations(() => {
      for (let k = 0; k < 498; k++) t.play();
    });
    expect(counts).toEqual({});
    expect(t.buffers.size).toBe(1);
    // 500 frames in all (two went out at start): the whole burst, and the sum of every sample in it.
    const expected = Array.from({ length: 80_000 }, (_, i) => (i % 20_000) - 10_000).reduce((a, b) => a + b, 0);
    expect(t.sent()).toEqual({ samples: 80_000, sum: expected });
  });

  it("trims a standing backlog without allocating: silence drops and crossfaded slices", () => {
    const t = countingPage();
    const AMP = 8000;
    // A held second, then real-time frames (made before counting): half tone, half silence, so both cuts run.
    t.p.push(tone(230, RATE, AMP));
    const frames = Array.from({ length: 50 * 30 }, (_, k) => (k % 50 < 25 ? tone(230, FRAME, AMP, k * FRAME) : new Int16Array(FRAME)));
    t.p.start();
    const counts = countAllocations(() => {
      for (const f of frames) {
        t.p.push(f);
        t.play();
      }
    });
    expect(t.p.trimmedSamples).toBeGreaterThan(RATE / 2);
    expect(counts).toEqual({});
    expect(t.buffers.size).toBe(1);
  });
});

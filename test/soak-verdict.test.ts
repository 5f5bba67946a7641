/**
 * The soak's verdict (bench/soak/verdict.ts) on made-up runs: growth per call fails it, values
 * that only follow how many calls are up do not, and underruns count only where the machine was
 * quiet. The soak itself (`npm run soak`) is a long run with Chrome: docs/BENCH.md, "Soak".
 */
import { describe, expect, it } from "vitest";
import type { SoakSample } from "../bench/soak/samples.ts";
import { GROWTH_LIMITS_PER_100_CALLS, judge } from "../bench/soak/verdict.ts";
import { linearFit2 } from "../bench/stats.ts";

interface Run {
  /** Per sample: the calls up then (a steady churn of 4 with calls starting and ending). */
  active: (i: number) => number;
  /** Growth per call handled, added to each measure. */
  fdsPerCall?: number;
  heapMbPerCall?: number;
  /** Underruns heard on streaming calls in window i, and whether other processes were busy then. */
  underruns?: (i: number) => number;
  busy?: (i: number) => boolean;
}

const N = 40;
const CALLS_PER_SAMPLE = 3;

/** A 10-minute run sampled every 15 s, with a mid and an end checkpoint. */
function run(r: Run): SoakSample[] {
  let underruns = 0;
  return Array.from({ length: N }, (_, i) => {
    const handled = i * CALLS_PER_SAMPLE;
    const active = r.active(i);
    underruns += r.underruns?.(i) ?? 0;
    const checkpoint = i === N / 2 ? "mid" : i === N - 1 ? "end" : undefined;
    const heap = 28 + (r.heapMbPerCall ?? 0) * handled;
    return {
      tS: (i + 1) * 15,
      ...(checkpoint && { checkpoint }),
      calls: { placed: handled + active, answered: handled + active, ended: handled, failed: 0, active },
      underruns: underruns * 2,
      underrunsStreaming: underruns,
      pageSessions: active,
      host: {
        rssMb: 140 + 3 * active,
        ussMb: 80,
        heapUsedMb: heap + 2 + (i % 3),
        heapAfterMajorGcMb: heap + 0.5,
        majorGcs: i,
        heapLiveMb: checkpoint ? heap : null,
        gcMs: checkpoint ? 30 : null,
        externalMb: 5,
        arrayBuffersMb: 2,
        fds: 44 + active + Math.round((r.fdsPerCall ?? 0) * handled),
        resources: 16 + 4 * active,
        timers: 1 + 3 * active,
        resourcesByType: {},
        cpuPct: 5,
        loopP99Ms: 11,
        loopMaxMs: 15,
      },
      chrome: {
        rssMb: 1200 + 12 * active,
        ussMb: 250 + 10 * active,
        pssMb: 400,
        anonMb: 290 + 10 * active,
        processes: 12,
        fds: 440 + 8 * active,
        lasting: { processes: 11, rssMb: 1180 + 12 * active, ussMb: 240 + 10 * active, anonMb: 280 + 10 * active, fds: 430 + 8 * active },
        byType: {},
        cpuPct: 25,
        pageHeapMb: 2.5,
        pageListeners: 50,
      },
      cpu: { twinPct: 8, pipelinePct: 2, othersPct: r.busy?.(i) ? 90 : 0 },
    };
  });
}

const churning = (i: number) => [3, 4, 4, 3, 4][i % 5];
const clean = { activeCalls: 0, pageSessions: 0, failures: 0 };

describe("the soak's verdict", () => {
  it("passes a run whose sockets, timers and memory only follow the calls up at the moment", () => {
    const v = judge(run({ active: churning }), clean);
    expect(v.problems).toEqual([]);
    expect(v.pass).toBe(true);
    for (const c of v.checks) expect(Math.abs(c.per100Calls), c.name).toBeLessThan(1e-6);
    expect(v.window.calls).toBe((N - 1 - N / 2) * CALLS_PER_SAMPLE);
  });

  it("fails a descriptor left behind by every other call, and a heap that keeps 50 kB a call", () => {
    const fds = judge(run({ active: churning, fdsPerCall: 0.5 }), clean);
    expect(fds.pass).toBe(false);
    expect(fds.checks.find((c) => c.name === "host open fds")!.per100Calls).toBeCloseTo(50, 0);
    expect(fds.problems).toEqual([expect.stringMatching(/^host open fds grew 5\d(\.\d+)? per 100 calls \(limit 3\)$/)]);

    const heap = judge(run({ active: churning, heapMbPerCall: 0.05 }), clean);
    expect(heap.pass).toBe(false);
    const live = heap.checks.find((c) => c.name.startsWith("host heap after a forced full GC"))!;
    expect(live.per100Calls).toBeCloseTo(5, 5);
    expect(live.limit).toBe(GROWTH_LIMITS_PER_100_CALLS.hostHeapMb);
  });

  it("counts underruns only in quiet windows, and gives no verdict when most windows were busy", () => {
    const inBursts = judge(run({ active: churning, underruns: (i) => (i % 4 === 0 ? 5 : 0), busy: (i) => i % 4 === 0 }), clean);
    expect(inBursts.underruns).toMatchObject({ quiet: 0, ok: true });
    expect(inBursts.underruns.streamingInWindow).toBeGreaterThan(0);
    expect(inBursts.pass).toBe(true);

    const quiet = judge(run({ active: churning, underruns: (i) => (i % 4 === 1 ? 1 : 0) }), clean);
    expect(quiet.underruns.ok).toBe(false);
    expect(quiet.pass).toBe(false);

    const busy = judge(run({ active: churning, busy: () => true }), clean);
    expect(busy.pass).toBe(false);
    expect(busy.problems.join()).toMatch(/no underrun verdict \(inconclusive\)/);
  });

  it("fails on a failed call, a call still up, or a session left in the page", () => {
    expect(judge(run({ active: churning }), { ...clean, failures: 1 }).problems).toEqual(["1 call(s) failed"]);
    expect(judge(run({ active: churning }), { ...clean, activeCalls: 2 }).pass).toBe(false);
    expect(judge(run({ active: churning }), { ...clean, pageSessions: 1 }).problems).toEqual(["1 call session(s) left in the page after the churn stopped"]);
  });
});

describe("linearFit2", () => {
  it("separates growth over time from what follows the second variable", () => {
    const points = Array.from({ length: 30 }, (_, t) => [t, churning(t), 10 + 0.5 * t + 7 * churning(t)] as const);
    const fit = linearFit2(points);
    expect(fit.slope1).toBeCloseTo(0.5, 9);
    expect(fit.slope2).toBeCloseTo(7, 9);
    // A second variable that never moves: the plain slope.
    expect(linearFit2([[0, 4, 1], [1, 4, 2], [2, 4, 3]]).slope1).toBeCloseTo(1, 9);
  });
});

/**
 * What the soak reads every sample: the host's memory, descriptors, handles and event loop; Chrome's
 * memory and descriptors over all its processes; the host's underrun counter; the page's call
 * sessions; the churn's counts. /proc is read by the bench's sampler child (bench/procstat.ts),
 * never on this event loop, which is the host's.
 */
import { PerformanceObserver, constants, monitorEventLoopDelay, performance, type IntervalHistogram } from "node:perf_hooks";
import { getHeapStatistics, setFlagsFromString, writeHeapSnapshot } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Host } from "../../host/host.ts";
import { machine, usage, type Sample } from "../procstat.ts";
import type { Stack } from "../stack.ts";
import { round } from "../stats.ts";
import type { Churn } from "./churn.ts";

const MB = 2 ** 20;

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
setFlagsFromString("--no-expose-gc");

/** A full GC of this process; how long it stopped the event loop. */
function collectGarbage(): number {
  const t0 = performance.now();
  gc();
  return performance.now() - t0;
}

export interface SoakSample {
  /** Seconds since the churn started (negative: the idle sample before it). */
  tS: number;
  /** The sample that starts the second half, and the churn's last: both force a full GC in the host. */
  checkpoint?: "mid" | "end";
  calls: { placed: number; answered: number; ended: number; failed: number; active: number };
  /**
   * Holes the callers heard so far: rcvh_playout_underruns_total (counted as each call ends) plus
   * what the calls still up have counted, so a window's underruns are the ones heard in it.
   */
  underruns: number;
  /** The same, on the calls whose pipeline streams ahead of real time (Churn.underrunsStreaming). */
  underrunsStreaming: number;
  /** Call sessions alive in the page (host.pageSessionCount()). */
  pageSessions: number;
  host: {
    rssMb: number;
    ussMb: number;
    /** Heap in use as found, garbage included. */
    heapUsedMb: number;
    /** Heap in use just after V8's last full (mark-compact) GC of its own, if one ran yet. */
    heapAfterMajorGcMb: number | null;
    majorGcs: number;
    /**
     * Checkpoints and idle samples only: the heap just after a full GC the sample forces, after
     * reading everything else. Live objects only; the heap between V8's own full GCs (minutes
     * apart when the heap is small) holds garbage that would hide a slow leak.
     */
    heapLiveMb: number | null;
    /** How long that GC stopped the host's event loop (≈ 25–50 ms for 29 MB here: why not every sample). */
    gcMs: number | null;
    externalMb: number;
    arrayBuffersMb: number;
    fds: number;
    /** process.getActiveResourcesInfo(): every handle and request keeping the loop alive, by type. */
    resources: number;
    timers: number;
    resourcesByType: Record<string, number>;
    cpuPct: number;
    loopP99Ms: number;
    loopMaxMs: number;
  };
  chrome: {
    /** Sum over Chrome's processes (shared pages count once per process). */
    rssMb: number;
    ussMb: number;
    pssMb: number;
    /** Anonymous (heap, stacks) over Chrome's processes: the measure no other process moves (bench/procstat.ts). */
    anonMb: number;
    processes: number;
    fds: number;
    /**
     * The same over the processes that were up at the first idle sample (browser, renderer, GPU,
     * network, audio, …): Chrome also starts and ends short-lived helpers (a spare renderer, a
     * utility), each moving the sums by ≈ 15 MB and 25 fds as it comes and goes.
     */
    lasting: { processes: number; rssMb: number; ussMb: number; anonMb: number; fds: number };
    /** Per process type: count, USS, RSS, anonymous, fds. */
    byType: Record<string, { n: number; ussMb: number; rssMb: number; anonMb: number; fds: number }>;
    cpuPct: number;
    /** The page's main-thread JS heap and listeners (CDP Performance.getMetrics). */
    pageHeapMb: number | null;
    pageListeners: number | null;
  };
  cpu: { twinPct: number; pipelinePct: number; othersPct: number };
}

export class SoakSampler {
  private readonly loop: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  private last: Sample | undefined;
  private afterMajorGc: number | null = null;
  private majorGcs = 0;
  private readonly gcs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if ((e as unknown as { detail?: { kind?: number } }).detail?.kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
      // Read as the observer runs, just after the GC: what survived it, plus little since.
      this.majorGcs++;
      this.afterMajorGc = getHeapStatistics().used_heap_size;
    }
  });
  /** Chrome's processes at the first idle sample. */
  private lastingPids: Set<number> | undefined;

  constructor(
    private readonly s: Stack,
    private readonly host: Host,
    private readonly churn: Churn,
    private readonly t0: () => number,
  ) {
    this.loop.enable();
    this.gcs.observe({ entryTypes: ["gc"] });
  }

  close(): void {
    this.gcs.disconnect();
    this.loop.disable();
  }

  /** The first /proc reading, so the first sample's CPU has a window. */
  async prime(): Promise<void> {
    this.last = await this.s.sampler.sample({ host: { pid: process.pid, tree: false }, chrome: { pid: this.host.browserProcess()?.pid ?? -1, tree: true }, twin: { pid: this.s.twin.pid, tree: true }, pipeline: { pid: this.s.pipeline.pid, tree: true }, sampler: { pid: this.s.sampler.pid, tree: false } });
  }

  /**
   * An idle sample after a full GC in the host and in the page: what is left is live, so idle
   * before and idle after compare without garbage in them. Only while no call is up.
   */
  async settledSample(snapshot?: string): Promise<SoakSample> {
    if (snapshot) writeHeapSnapshot(snapshot);
    const page = this.host.chromePage();
    if (page) {
      const cdp = await page.createCDPSession();
      await cdp.send("HeapProfiler.collectGarbage").finally(() => cdp.detach());
    }
    return this.sample({ fullGc: true });
  }

  async sample(o: { fullGc?: boolean; checkpoint?: "mid" | "end" } = {}): Promise<SoakSample> {
    const chromePid = this.host.browserProcess()?.pid;
    const proc = await this.s.sampler.sample({
      host: { pid: process.pid, tree: false, fds: true },
      chrome: { pid: chromePid ?? -1, tree: true, fds: true, perPid: true },
      twin: { pid: this.s.twin.pid, tree: true },
      pipeline: { pid: this.s.pipeline.pid, tree: true },
      sampler: { pid: this.s.sampler.pid, tree: false },
    });
    const prev = this.last ?? proc;
    this.last = proc;
    const u = usage(prev, proc);
    const m = machine(prev, proc, u);
    const loop = { p99: this.loop.percentile(99) / 1e6, max: this.loop.max / 1e6 };
    const mem = process.memoryUsage();
    const resources = process.getActiveResourcesInfo();
    const resourcesByType: Record<string, number> = {};
    for (const r of resources) resourcesByType[r] = (resourcesByType[r] ?? 0) + 1;
    const ended = (await this.host.metrics.underruns.get()).values[0]?.value ?? 0;
    // Summed right after the metric is read: a stream that closes moves its count into the metric at once.
    const underruns = ended + this.host.calls.active().reduce((sum, c) => sum + (c.stream?.probeTargets.playout.underruns ?? 0), 0);
    const pageSessions = await this.host.pageSessionCount().catch(() => -1);
    const page = await this.pageMetrics();
    const c = this.churn;
    const calls = { placed: c.placed, answered: c.answered, ended: c.ended, failed: c.failed, active: this.host.calls.active().length };
    const underrunsStreaming = c.underrunsStreaming();
    // Everything else is read: the GC's own stall lands in the next window.
    const gcMs = o.fullGc ? collectGarbage() : null;
    const heapLive = o.fullGc ? getHeapStatistics().used_heap_size : null;
    this.loop.reset();
    const g = proc.groups;
    const byPid = Object.entries(g.chrome.byPid ?? {}).map(([pid, p]) => ({ pid: Number(pid), ...p }));
    this.lastingPids ??= new Set(byPid.map((p) => p.pid));
    const lastingSet = this.lastingPids;
    const lasting = byPid.filter((p) => lastingSet.has(p.pid));
    const byType: SoakSample["chrome"]["byType"] = {};
    for (const p of byPid) {
      const t = (byType[p.type] ??= { n: 0, ussMb: 0, rssMb: 0, anonMb: 0, fds: 0 });
      t.n++;
      t.ussMb = round(t.ussMb + p.ussKb / 1024);
      t.rssMb = round(t.rssMb + p.rssKb / 1024);
      t.anonMb = round(t.anonMb + p.anonKb / 1024);
      t.fds += p.fds ?? 0;
    }
    return {
      tS: round((Date.now() - this.t0()) / 1000, 1),
      ...(o.checkpoint && { checkpoint: o.checkpoint }),
      calls,
      underruns,
      underrunsStreaming,
      pageSessions,
      host: {
        rssMb: round(mem.rss / MB),
        ussMb: round(g.host.ussKb / 1024),
        heapUsedMb: round(mem.heapUsed / MB),
        heapAfterMajorGcMb: this.afterMajorGc === null ? null : round(this.afterMajorGc / MB, 2),
        majorGcs: this.majorGcs,
        heapLiveMb: heapLive === null ? null : round(heapLive / MB, 2),
        gcMs: gcMs === null ? null : round(gcMs),
        externalMb: round(mem.external / MB),
        arrayBuffersMb: round(mem.arrayBuffers / MB),
        fds: g.host.fds ?? -1,
        resources: resources.length,
        timers: resourcesByType.Timeout ?? 0,
        resourcesByType,
        cpuPct: round(u.host.cpuPct),
        loopP99Ms: round(loop.p99),
        loopMaxMs: round(loop.max),
      },
      chrome: {
        rssMb: round(g.chrome.rssKb / 1024),
        ussMb: round(g.chrome.ussKb / 1024),
        pssMb: round(g.chrome.pssKb / 1024),
        anonMb: round(g.chrome.anonKb / 1024),
        processes: g.chrome.pids.length,
        fds: g.chrome.fds ?? -1,
        lasting: {
          processes: lasting.length,
          rssMb: round(lasting.reduce((s, p) => s + p.rssKb, 0) / 1024),
          ussMb: round(lasting.reduce((s, p) => s + p.ussKb, 0) / 1024),
          anonMb: round(lasting.reduce((s, p) => s + p.anonKb, 0) / 1024),
          fds: lasting.reduce((s, p) => s + (p.fds ?? 0), 0),
        },
        byType,
        cpuPct: round(u.chrome.cpuPct),
        pageHeapMb: page ? round(page.heap / MB, 2) : null,
        pageListeners: page?.listeners ?? null,
      },
      cpu: { twinPct: round(u.twin.cpuPct), pipelinePct: round(u.pipeline.cpuPct), othersPct: round(m.othersPct) },
    };
  }

  private async pageMetrics(): Promise<{ heap: number; listeners: number } | undefined> {
    try {
      const m = await this.host.chromePage()?.metrics();
      return m?.JSHeapUsedSize === undefined ? undefined : { heap: m.JSHeapUsedSize, listeners: m.JSEventListeners ?? 0 };
    } catch {
      return undefined;
    }
  }
}

/**
 * The soak's verdict: each measure's trend over the second half of the run (the first half is
 * warm-up: JIT code, caches, Chrome's pools, the host's bounded call history filling), as its
 * growth over that half per 100 calls handled, against the limits below. The trend is a
 * least-squares plane through (time, calls up at that moment, value): a sample taken with 4 calls
 * up holds more sockets, timers and memory than one taken with 3, and that is not growth. The
 * host's live heap is the exception: it is known only at the two checkpoints that force a full GC
 * (the second half's first sample and the last), so its growth is end minus mid. Any failed call,
 * or a call or page session left over at the end, fails the run too.
 */
import { BUSY_PCT } from "../params.ts";
import { linearFit2, round } from "../stats.ts";
import type { SoakSample } from "./samples.ts";

/**
 * Growth allowed per 100 calls over the second half. A leak is something a call leaves behind, so
 * the limits are per call handled; each is far below what leaking one thing per call would show,
 * and above the noise a steady run shows (each sample lands at a different point of the calls'
 * lives, and memory moves with garbage collection). Measured noise: docs/BENCH.md, "Soak".
 */
export const GROWTH_LIMITS_PER_100_CALLS = {
  /** Host live heap (after a forced full GC, mid to end checkpoint): a leaked call (its stream, playout, pipeline session) holds ≥ 100 kB, so 100 calls ≥ 10 MB. */
  hostHeapMb: 2,
  /** Host RSS: the heap plus Buffers and native memory; the allocator returns pages lazily, so it is noisier than the heap. */
  hostRssMb: 8,
  /** Chrome anonymous memory (heaps, stacks), lasting processes: a leaked RTCPeerConnection keeps MBs (jitter buffers, codecs, threads). */
  chromeAnonMb: 25,
  /** Chrome RSS summed over the lasting processes: anonymous memory plus the file pages they map (code, fonts). */
  chromeRssMb: 40,
  /** Chrome's process count: a helper process left per call would be 100. */
  chromeProcesses: 1,
  /** Host descriptors: each call opens a pipeline socket; one kept per call would be 100. */
  hostFds: 3,
  /** Chrome descriptors, lasting processes: each call opens UDP sockets and pipes; one kept per call would be 100. */
  chromeFds: 6,
  /** Host handles and requests (sockets, timers, …) keeping the event loop alive. */
  hostResources: 4,
  /** Host timers: a ping interval or timeout kept per call would be 100. */
  hostTimers: 4,
  /** Page call sessions: every call's session is disposed at its end; 1 left per 100 calls is a leak. */
  pageSessions: 1,
} as const;

/**
 * Underruns (holes the callers heard, counted by the page) allowed per 100 calls in the second
 * half, on the calls whose pipeline streams ahead of real time (half of them), over the sample
 * windows in which other processes left the machine quiet (≤ BUSY_PCT of a core, as in
 * `npm run bench`).
 * - Streaming calls only: the echo pipeline sends each frame back as it comes, so its audio is
 *   never ahead, and a late caller frame (Chrome's capture cadence, a busy twin) is a hole the
 *   host cannot prevent. With 1 s queued ahead, a hole is the host, the page or Chrome.
 * - Quiet windows only: on 2 cores, another process's burst starves real-time audio whatever the
 *   host does (docs/BENCH.md, "Reading the results").
 * A steady host plays without holes (bench phase 5: 0 at 8 calls); call set-up beside live calls
 * may cost one now and then. Holes that keep coming on a quiet machine mean the host degrades.
 */
export const UNDERRUNS_PER_100_CALLS = 2;
/** Fewer quiet windows than this share of the second half: no underrun verdict is possible, and the run fails as inconclusive. */
export const MIN_QUIET_SHARE = 0.5;

/** Fewer samples than this in the second half: the slopes are reported but mean little. */
export const MIN_FIT_SAMPLES = 6;

export interface Check {
  name: string;
  unit: string;
  start: number;
  mid: number;
  end: number;
  /** Fitted growth per hour over the second half. */
  perHour: number;
  /** Fitted growth over the second half, per 100 calls handled in it. */
  per100Calls: number;
  /** Undefined: reported only. */
  limit: number | undefined;
  ok: boolean;
}

export interface Verdict {
  pass: boolean;
  checks: Check[];
  /** Calls handled in the second half (ended or failed), and its length. */
  window: { fromS: number; toS: number; calls: number; samples: number };
  underruns: {
    /** Over the whole second half, every call, busy windows included. */
    inWindow: number;
    /** Streaming calls, over the whole second half. */
    streamingInWindow: number;
    /** Streaming calls, in the quiet windows: the ones judged. */
    quiet: number;
    quietWindows: number;
    busyWindows: number;
    quietCalls: number;
    per100Calls: number;
    limit: number;
    total: number;
    ok: boolean;
  };
  problems: string[];
}

type Pick = (s: SoakSample) => number | null;
/**
 * Without a key: reported, not judged (sums over every Chrome process move as helpers come and go).
 * `checkpoints`: the change from the mid checkpoint to the end one, not a fit (the value exists only there).
 */
const MEASURES: Array<{ key?: keyof typeof GROWTH_LIMITS_PER_100_CALLS; name: string; unit: string; pick: Pick; checkpoints?: true }> = [
  { key: "hostHeapMb", name: "host heap after a forced full GC (checkpoints)", unit: "MB", pick: (s) => s.host.heapLiveMb, checkpoints: true },
  { name: "host heap after V8's own full GCs", unit: "MB", pick: (s) => s.host.heapAfterMajorGcMb },
  { key: "hostRssMb", name: "host RSS", unit: "MB", pick: (s) => s.host.rssMb },
  { key: "chromeAnonMb", name: "Chrome anonymous, lasting processes", unit: "MB", pick: (s) => s.chrome.lasting.anonMb },
  { key: "chromeRssMb", name: "Chrome RSS sum, lasting processes", unit: "MB", pick: (s) => s.chrome.lasting.rssMb },
  // USS moves when another Chrome on the machine exits (its shared pages become ours): reported only.
  { name: "Chrome USS, lasting processes", unit: "MB", pick: (s) => s.chrome.lasting.ussMb },
  { name: "Chrome USS, all processes", unit: "MB", pick: (s) => s.chrome.ussMb },
  { name: "Chrome RSS sum, all processes", unit: "MB", pick: (s) => s.chrome.rssMb },
  { key: "chromeProcesses", name: "Chrome processes", unit: "", pick: (s) => s.chrome.processes },
  { key: "hostFds", name: "host open fds", unit: "", pick: (s) => s.host.fds },
  { key: "chromeFds", name: "Chrome open fds, lasting processes", unit: "", pick: (s) => s.chrome.lasting.fds },
  { name: "Chrome open fds, all processes", unit: "", pick: (s) => s.chrome.fds },
  { key: "hostResources", name: "host active resources", unit: "", pick: (s) => s.host.resources },
  { key: "hostTimers", name: "host timers", unit: "", pick: (s) => s.host.timers },
  { key: "pageSessions", name: "page call sessions", unit: "", pick: (s) => s.pageSessions },
];

const handled = (s: SoakSample) => s.calls.ended + s.calls.failed;

/** The second half: from the mid checkpoint on (by time, if the run was cut short before it). */
function secondHalf(samples: SoakSample[]): SoakSample[] {
  const mid = samples.findIndex((s) => s.checkpoint === "mid");
  if (mid >= 0) return samples.slice(mid);
  const lastS = samples.at(-1)?.tS ?? 0;
  return samples.filter((s) => s.tS >= lastS / 2);
}

export function judge(samples: SoakSample[], end: { activeCalls: number; pageSessions: number; failures: number }): Verdict {
  const problems: string[] = [];
  const half = secondHalf(samples);
  const first = half[0];
  const last = half.at(-1);
  const calls = first && last ? handled(last) - handled(first) : 0;
  const hours = first && last ? (last.tS - first.tS) / 3600 : 0;
  if (half.length < MIN_FIT_SAMPLES) problems.push(`only ${half.length} samples in the second half (< ${MIN_FIT_SAMPLES}): run longer for a verdict that means something`);
  if (calls === 0) problems.push("no call ended in the second half");
  const value = (s: SoakSample | undefined, pick: Pick) => (s ? pick(s) ?? NaN : NaN);
  const checks: Check[] = MEASURES.map(({ key, name, unit, pick, checkpoints }) => {
    let growth: number;
    if (checkpoints) growth = value(last, pick) - value(first, pick);
    else {
      const points = half.flatMap((s) => (pick(s) === null ? [] : [[s.tS / 3600, s.calls.active, pick(s)!] as const]));
      growth = linearFit2(points).slope1 * hours;
    }
    const known = Number.isFinite(growth) && calls > 0;
    if (!known && key) problems.push(`${name}: no value to judge`);
    const per100Calls = known ? (growth / calls) * 100 : NaN;
    const limit = key && GROWTH_LIMITS_PER_100_CALLS[key];
    const ok = limit === undefined || (known && per100Calls <= limit);
    return { name, unit, start: value(samples[0], pick), mid: value(first, pick), end: value(last, pick), perHour: round(hours > 0 ? growth / hours : NaN, 2), per100Calls: round(per100Calls, 2), limit, ok };
  });
  // Each sample closes a window: its underruns, calls and other processes' CPU are that window's.
  // The first window is left out: the mid checkpoint's forced GC stalls the host at its start.
  const windows = half.slice(2).map((s, i) => ({ underruns: s.underrunsStreaming - half[i + 1].underrunsStreaming, calls: handled(s) - handled(half[i + 1]), busy: s.cpu.othersPct > BUSY_PCT }));
  const quietWindows = windows.filter((w) => !w.busy);
  const quiet = quietWindows.reduce((n, w) => n + w.underruns, 0);
  const quietCalls = quietWindows.reduce((n, w) => n + w.calls, 0);
  const uPer100 = quietCalls > 0 ? (quiet / quietCalls) * 100 : 0;
  const enoughQuiet = windows.length > 0 && quietWindows.length >= MIN_QUIET_SHARE * windows.length;
  const underruns = {
    inWindow: first && last ? last.underruns - first.underruns : 0,
    streamingInWindow: first && last ? last.underrunsStreaming - first.underrunsStreaming : 0,
    quiet,
    quietWindows: quietWindows.length,
    busyWindows: windows.length - quietWindows.length,
    quietCalls,
    per100Calls: round(uPer100, 2),
    limit: UNDERRUNS_PER_100_CALLS,
    total: samples.at(-1)?.underruns ?? 0,
    ok: enoughQuiet && uPer100 <= UNDERRUNS_PER_100_CALLS,
  };
  for (const c of checks) if (!c.ok) problems.push(`${c.name} grew ${c.per100Calls}${c.unit ? ` ${c.unit}` : ""} per 100 calls (limit ${c.limit})`);
  if (!enoughQuiet) problems.push(`other processes kept the machine busy (> ${BUSY_PCT} % of a core) in ${underruns.busyWindows} of ${windows.length} windows of the second half: no underrun verdict (inconclusive)`);
  else if (uPer100 > UNDERRUNS_PER_100_CALLS) problems.push(`${quiet} underruns on streaming calls in the quiet windows of the second half: ${underruns.per100Calls} per 100 calls (limit ${UNDERRUNS_PER_100_CALLS})`);
  if (end.failures > 0) problems.push(`${end.failures} call(s) failed`);
  if (end.activeCalls > 0) problems.push(`${end.activeCalls} call(s) still active in the host after the churn stopped`);
  if (end.pageSessions !== 0) problems.push(`${end.pageSessions} call session(s) left in the page after the churn stopped`);
  const fatal = checks.some((c) => !c.ok) || !underruns.ok || end.failures > 0 || end.activeCalls > 0 || end.pageSessions !== 0 || calls === 0;
  return { pass: !fatal, checks, window: { fromS: first?.tS ?? 0, toS: last?.tS ?? 0, calls, samples: half.length }, underruns, problems };
}

/** 4. Per-call cost: CPU and memory per process group at 0, 1, 2, 4, 8 echoing calls, and the slopes. */
import type { Host } from "../../host/host.ts";
import { BUSY_PCT, type Params } from "../params.ts";
import type { GroupUsage } from "../procstat.ts";
import { describeUsage, progress, sleep, type LiveCall, type Profile, type Stack, type Window } from "../stack.ts";
import { fmt, linearFit, round } from "../stats.ts";

export interface CostPoint {
  calls: number;
  usage: Record<string, GroupUsage>;
  machine: Window["machine"];
  /** Measured in phase 5 (tones streaming both ways) rather than with echoing speech. */
  fromStream?: boolean;
}

/** CPU in % of one core; memory in MB of USS (private) and of PSS. */
type Slopes = { chromeCpuPct: number; hostCpuPct: number; chromeMb: number; hostMb: number; chromePssMb: number; hostPssMb: number; twinCpuPct: number; pipelineCpuPct: number };

export interface CostResult {
  points: CostPoint[];
  /** Least-squares slope over every point (0 calls included). */
  slope: Slopes;
  /** Slope over the points with at least one call: what each call beyond the first adds. */
  marginal: Slopes | undefined;
  /** 0 → 1 call: the first call also wakes WebRTC's shared machinery. */
  firstCall: Slopes | undefined;
  underruns: number;
}

function slopes(points: CostPoint[]): Slopes {
  const fit = (f: (u: Record<string, GroupUsage>) => number) => round(linearFit(points.map((p) => [p.calls, f(p.usage)] as const)).slope, 2);
  return {
    chromeCpuPct: fit((u) => u.chrome.cpuPct),
    hostCpuPct: fit((u) => u.host.cpuPct),
    chromeMb: fit((u) => u.chrome.ussMb),
    hostMb: fit((u) => u.host.ussMb),
    chromePssMb: fit((u) => u.chrome.pssMb),
    hostPssMb: fit((u) => u.host.pssMb),
    twinCpuPct: fit((u) => u.twin.cpuPct),
    pipelineCpuPct: fit((u) => u.pipeline.cpuPct),
  };
}

/** The slopes through a set of points (also after phase 5 adds its 8-call point). */
export function costLines(points: CostPoint[]): Pick<CostResult, "slope" | "marginal" | "firstCall"> {
  const withCalls = points.filter((p) => p.calls >= 1);
  const zero = points.find((p) => p.calls === 0);
  const one = points.find((p) => p.calls === 1);
  return { slope: slopes(points), marginal: withCalls.length >= 2 ? slopes(withCalls) : undefined, firstCall: zero && one ? slopes([zero, one]) : undefined };
}

export async function benchCost(s: Stack, host: Host, profile: Profile, levels: number[], P: Params): Promise<CostResult> {
  const calls: LiveCall[] = [];
  const points: CostPoint[] = [];
  for (const level of levels) {
    const add = level - calls.length;
    for (let i = 0; i < add; i++) {
      // A tone, not the speech sample: the twin converts a WAV sample by sample on its event loop
      // (≈ 2.4 µs a sample: 1.7 s for 85 s at 8 kHz, 4.6 s for 40 s at 48 kHz), which stalls every
      // other call's media in the twin and, at 48 kHz, made calls fail to set up.
      calls.push(await s.placeCall(host, "tone:440", { kind: "echo" }));
      await sleep(150);
    }
    await sleep(level === 0 ? 1000 : P.settleMs);
    let w = await s.measureWindow(host, P.windowMs);
    // Another process took a big share of the 2 cores meanwhile: measure again, once.
    if (w.machine.othersPct > BUSY_PCT) {
      progress(`cost ${profile.name} at ${level} call(s): other processes used ${fmt(w.machine.othersPct)} % of a core; measuring again`);
      w = await s.measureWindow(host, P.windowMs);
    }
    points.push({ calls: level, usage: w.usage, machine: w.machine });
    progress(`cost ${profile.name} at ${level} call(s): ${describeUsage(w)}`);
  }
  await s.hangupAll(host, calls);
  const underruns = calls.reduce((sum, c) => sum + (host.calls.byTelephonySession(c.placed.telephonySessionId)?.streamStats?.underruns ?? 0), 0);
  await Promise.all(calls.map((c) => s.pipeline.report(c.from).catch(() => undefined)));
  return { points, ...costLines(points), underruns };
}

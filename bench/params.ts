/** What each phase does, full and `--quick`, and the design targets the table checks against. */

export interface Params {
  launchRuns: number;
  bursts: number;
  latencyCalls: number;
  clears: number;
  clearCalls: number;
  costLevels: number[];
  windowMs: number;
  settleMs: number;
  streamMs: number;
  opusLatency: boolean;
  opusCostLevels: number[];
  cdpWindowMs: number;
  cdpProfiles: string[];
  stallCheck: boolean;
  sipDrops: number;
  /** Calls streaming both ways in phase 5, one window each. */
  streamCalls: number[];
  /** `npm run demo` runs, for its echo round trip. */
  demoRuns: number;
}

export function paramsFor(quick: boolean): Params {
  return quick
    ? { launchRuns: 3, bursts: 10, latencyCalls: 1, clears: 4, clearCalls: 1, costLevels: [0, 1, 4], windowMs: 4000, settleMs: 1500, streamMs: 8000, opusLatency: false, opusCostLevels: [0], cdpWindowMs: 3000, cdpProfiles: ["mulaw"], stallCheck: false, sipDrops: 3, streamCalls: [8], demoRuns: 1 }
    : { launchRuns: 5, bursts: 30, latencyCalls: 3, clears: 10, clearCalls: 2, costLevels: [0, 1, 2, 4, 8], windowMs: 10_000, settleMs: 3000, streamMs: 20_000, opusLatency: true, opusCostLevels: [0, 1], cdpWindowMs: 5000, cdpProfiles: ["mulaw", "l16-16000"], stallCheck: true, sipDrops: 5, streamCalls: [8, 16], demoRuns: 3 };
}

/** Other processes using more than this (% of one core) make a window suspect. */
export const BUSY_PCT = 30;

export const TARGET = {
  launchMs: 1500,
  sipNotReadyMs: 5000,
  /** Pipeline → caller, p95; also for a pipeline that streams in real time, after its first 2 s. */
  latencyP95Ms: 50,
  /** Caller → pipeline, p95, per profile: μ-law on PCMU, L16 16 kHz on Opus. */
  uplinkP95Ms: { mulaw: 35, "l16-16000": 40 } as Record<string, number>,
  clearMs: 20,
  cpuPerCallPct: 10,
  mbPerCall: 30,
  /** Registered, no call: Chrome's CPU (% of a core) and the whole tree's PSS (Chrome + host). */
  idleChromeCpuPct: 2,
  idlePssMb: 450,
  /** What the first call (0 → 1) adds: Chrome + host, % of a core. */
  firstCallCpuPct: 10,
  underruns: 0,
  gapMs: 20,
  demoRoundTripMs: 160,
};

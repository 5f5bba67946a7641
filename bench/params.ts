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
}

export function paramsFor(quick: boolean): Params {
  return quick
    ? { launchRuns: 3, bursts: 10, latencyCalls: 1, clears: 4, clearCalls: 1, costLevels: [0, 1, 4], windowMs: 4000, settleMs: 1500, streamMs: 8000, opusLatency: false, opusCostLevels: [0], cdpWindowMs: 3000, cdpProfiles: ["mulaw"], stallCheck: false, sipDrops: 3 }
    : { launchRuns: 5, bursts: 30, latencyCalls: 3, clears: 10, clearCalls: 2, costLevels: [0, 1, 2, 4, 8], windowMs: 10_000, settleMs: 3000, streamMs: 20_000, opusLatency: true, opusCostLevels: [0, 1], cdpWindowMs: 5000, cdpProfiles: ["mulaw", "l16-16000"], stallCheck: true, sipDrops: 5 };
}

/** Other processes using more than this (% of one core) make a window suspect. */
export const BUSY_PCT = 30;

export const TARGET = { sipNotReadyMs: 5000, latencyP95Ms: 50, clearMs: 20, cpuPerCallPct: 10, mbPerCall: 30, underruns: 0, gapMs: 60 };

/** 1. launch → registered: a fresh host each run, logging in, provisioning, bundling and launching Chrome. */
import { rmSync } from "node:fs";
import type { Params } from "../params.ts";
import { PROFILES, progress, sleep, type Stack } from "../stack.ts";
import { round, summarize, type Summary } from "../stats.ts";

export interface LaunchResult {
  runsMs: number[];
  summary: Summary;
  /** Per run, when each start-up step ended (ms from the start; steps overlap). */
  timelinesMs: Array<Record<string, number>>;
}

export async function benchLaunch(s: Stack, P: Params): Promise<LaunchResult> {
  const runsMs: number[] = [];
  const timelinesMs: Array<Record<string, number>> = [];
  for (let i = 0; i < P.launchRuns; i++) {
    const start = performance.now();
    const { host, cache } = s.newHost(PROFILES[0]);
    await host.start();
    const ms = performance.now() - start;
    if (!host.status().registered) throw new Error("host.start() resolved but the host is not registered");
    runsMs.push(round(ms, 0));
    const timeline = host.startupTimeline?.toJSON() ?? {};
    timelinesMs.push(timeline);
    progress(`launch run ${i + 1}: ${ms.toFixed(0)} ms ${JSON.stringify(timeline)}`);
    await host.stop();
    rmSync(cache, { force: true });
    await sleep(300);
  }
  return { runsMs, summary: summarize(runsMs), timelinesMs };
}

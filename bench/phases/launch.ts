/**
 * 1. launch → registered: a fresh host each run, logging in, provisioning, bundling and launching
 * Chrome. Timed to start()'s end (the registration); the timeline also has the audio graph's end.
 */
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
    // start() resolves at registration; the audio graph (its `audio` step, and /ready) may finish just after.
    for (const until = performance.now() + 15_000; !host.status().audio; await sleep(10))
      if (performance.now() > until) throw new Error("the page's audio graph was not built within 15 s of the registration");
    const timeline = host.startupTimeline?.toJSON() ?? {};
    timelinesMs.push(timeline);
    progress(`launch run ${i + 1}: ${ms.toFixed(0)} ms ${JSON.stringify(timeline)}`);
    await host.stop();
    rmSync(cache, { force: true });
    await sleep(300);
  }
  return { runsMs, summary: summarize(runsMs), timelinesMs };
}

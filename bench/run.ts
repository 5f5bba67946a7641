/**
 * `npm run bench [-- --quick]`: measures rc-voice-host against its design targets on this
 * machine, prints a table and writes bench/results/<date>.json. Always exits 0: a benchmark
 * reports, it does not fail CI. How each number is measured: docs/BENCH.md.
 *
 * Processes: this one runs the host (real Chrome) and the bench; the twin (twin/cli.ts) and the
 * test pipeline (bench/pipeline.ts) run in their own processes, so their CPU is not the host's
 * and their event loops never delay it. /proc is read in a child process (bench/procstat.ts).
 *
 * This file is the running order; the phases are in bench/phases/, what they run on in
 * bench/stack.ts, the output in bench/report.ts.
 */
import { mkdirSync, rmSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { BUSY_PCT, paramsFor } from "./params.ts";
import { benchClear } from "./phases/clear.ts";
import { benchCost, costLines } from "./phases/cost.ts";
import { benchDemo } from "./phases/demo.ts";
import { benchLatency } from "./phases/latency.ts";
import { benchLaunch } from "./phases/launch.ts";
import { benchPaced } from "./phases/paced.ts";
import { benchSip, type SipResult } from "./phases/sip.ts";
import { benchStall } from "./phases/stall.ts";
import { benchStream, type StreamResult } from "./phases/stream.ts";
import { benchUplink } from "./phases/uplink.ts";
import { installProbes } from "./probes.ts";
import { gitState, writeReport, type ProfileResults } from "./report.ts";
import { PROFILES, Stack, elapsedS, progress, sleep } from "./stack.ts";
import { fmt } from "./stats.ts";
import { ROOT } from "./twin-proc.ts";

const QUICK = process.argv.includes("--quick");
const argValue = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
/** `--only=latency,paced,clear,cost,stream,uplink,launch,sip,demo` and `--profiles=mulaw,l16-16000`: run a part (for investigating). */
const ONLY = argValue("only")?.split(",");
const PROFILE_FILTER = argValue("profiles")?.split(",");
/** `--uplink=buffered` benches the hosts with UPLINK=buffered instead of the default, fast (either value is passed on). */
const UPLINK = argValue("uplink");
const runs = (phase: string) => !ONLY || ONLY.includes(phase);

const P = paramsFor(QUICK);

const RESULTS_DIR = join(ROOT, "bench", "results");
const STAMP = new Date().toISOString().replace(/[:]/g, "-").replace(/\..*/, "");
const RUN_NAME = `${STAMP}${QUICK ? "-quick" : ""}`;
const HOST_LOG = join(RESULTS_DIR, `${RUN_NAME}-host.log`);
const TWIN_LOG = join(RESULTS_DIR, `${RUN_NAME}-twin.log`);

let stack: Stack | undefined;

async function main(): Promise<void> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const git = gitState();
  progress(`commit ${git.commit}${git.dirty.length ? ` + uncommitted changes in ${git.dirty.join(", ")}` : ""}`);
  progress(`${QUICK ? "quick" : "full"} run${UPLINK ? ` with UPLINK=${UPLINK}` : ""} on ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 2 ** 30)} GB`);
  const s = (stack = await Stack.start({ host: HOST_LOG, twin: TWIN_LOG }));
  progress(`twin pid ${s.twin.pid}, pipeline pid ${s.pipeline.pid} (clock skew ${s.pipeline.clockSkewMs.toFixed(2)} ms)`);
  installProbes();
  const quiet = await s.measureWindow(undefined, 2000);
  progress(`other processes on this machine before starting: ${fmt(quiet.machine.othersPct, 1)} % of a core`);
  if (quiet.machine.othersPct > BUSY_PCT / 2) progress("warning: this machine is busy with other work; the numbers will be worse than on a quiet machine");

  const launch = runs("launch") ? await benchLaunch(s, P) : undefined;
  const profiles: ProfileResults[] = [];
  let sip: SipResult | undefined;
  for (const profile of PROFILES.filter((p) => !PROFILE_FILTER || PROFILE_FILTER.includes(p.name))) {
    // 16 calls streaming in phase 5: the default MAX_CONCURRENT_CALLS (8) would leave the rest ringing.
    const { host, cache } = s.newHost(profile, { MAX_CONCURRENT_CALLS: String(Math.max(8, ...P.streamCalls)), ...(UPLINK && { UPLINK }) });
    await host.start();
    await sleep(1000);
    const r: ProfileResults = { profile: profile.name };
    profiles.push(r);
    try {
      if (profile.name === "mulaw" && runs("sip")) sip = await benchSip(s, host, P);
      // A part asked for by name (--only) runs on every profile asked for, quick or not.
      const full = profile.name === "mulaw" || P.opusLatency || ONLY !== undefined;
      if (full && runs("latency")) r.latency = await benchLatency(s, host, profile, P);
      if (full && runs("paced")) r.paced = await benchPaced(s, host, profile, P);
      if (full && runs("clear")) r.clear = await benchClear(s, host, profile, P);
      if (runs("cost")) r.cost = await benchCost(s, host, profile, profile.name === "mulaw" ? P.costLevels : P.opusCostLevels, P);
      if (runs("stream")) {
        await sleep(1000);
        const streams: StreamResult[] = (r.streams = []);
        for (const n of P.streamCalls) {
          streams.push(await benchStream(s, host, profile, n, P));
          await sleep(1000);
        }
        r.stream = streams.find((x) => x.calls === 8) ?? streams[0];
        // The 8-call window extends the cost line for a profile without the full sweep.
        if (P.stallCheck && profile.name === "mulaw") r.stall = await benchStall(s, host);
        if (r.cost && !r.cost.points.some((p) => p.calls === 8)) {
          r.cost.points.push({ calls: 8, usage: r.stream.usage, machine: r.stream.machine, fromStream: true });
          Object.assign(r.cost, costLines(r.cost.points));
        }
      }
    } catch (err) {
      progress(`${profile.name}: ${(err as Error).stack ?? err}`);
    } finally {
      await host.stop();
      rmSync(cache, { force: true });
    }
    // Both uplinks side by side, a host each (two registered at once would share the calls).
    if (runs("uplink") && (profile.name === "mulaw" || P.opusLatency)) {
      r.uplinks = [];
      for (const mode of ["buffered", "fast"]) {
        const { host: h, cache: c } = s.newHost(profile, { UPLINK: mode });
        try {
          await h.start();
          await sleep(1000);
          r.uplinks.push(...(await benchUplink(s, h, profile, mode, P)));
        } catch (err) {
          progress(`uplink ${profile.name} ${mode}: ${(err as Error).stack ?? err}`);
        } finally {
          await h.stop();
          rmSync(c, { force: true });
        }
      }
    }
  }

  // Last, with the bench's own host stopped: the demo starts its own twin, host and Chrome.
  const demo = runs("demo") ? await benchDemo(P) : undefined;

  const gitAfter = gitState();
  if (JSON.stringify(gitAfter) !== JSON.stringify(git)) progress(`warning: the working tree changed during the run (now commit ${gitAfter.commit}, changes in ${gitAfter.dirty.join(", ") || "nothing"}); later phases may have measured other code`);
  writeReport({ quick: QUICK, git, params: P, launch, sip, demo, profiles, background: s.background, hostLog: HOST_LOG, elapsedS: elapsedS(), file: join(RESULTS_DIR, `${RUN_NAME}.json`) });
}

main()
  .catch((err: Error) => console.error(`bench failed: ${err.stack ?? err.message}`))
  .finally(async () => {
    await stack?.stop();
    // A benchmark reports; it never fails the build.
    process.exit(0);
  });

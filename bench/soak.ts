/**
 * `npm run soak [-- --minutes=30 --concurrency=4 --call-seconds=20]`: calls churn against the twin
 * for a long time with the real host (real Chrome, real WebRTC), and the run fails (exit 1) if
 * memory, descriptors, timers or underruns keep growing after warm-up, or if any call failed.
 * Prints a table and writes .cache/soak-<date>.json. How and why: docs/BENCH.md, "Soak".
 *
 * Processes as in `npm run bench` (bench/run.ts): this one runs the host and the soak; the twin,
 * the pipeline and the /proc sampler run in their own.
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Host } from "../host/host.ts";
import { gitState } from "./report.ts";
import { Churn } from "./soak/churn.ts";
import { printSoak, writeSoak, type SoakOptions } from "./soak/report.ts";
import { SoakSampler, type SoakSample } from "./soak/samples.ts";
import { judge } from "./soak/verdict.ts";
import { PROFILES, Stack, elapsedS, sleep } from "./stack.ts";
import { ROOT } from "./twin-proc.ts";

const USAGE = "usage: npm run soak [-- --minutes=N (SOAK_MINUTES, 30) --concurrency=N (SOAK_CONCURRENCY, 4) --call-seconds=N (SOAK_CALL_S, 20) --sample-seconds=N (SOAK_SAMPLE_S, 15) --profile=mulaw|l16-16000 (SOAK_PROFILE)]";

function options(): SoakOptions {
  const { values } = parseArgs({
    options: { minutes: { type: "string" }, concurrency: { type: "string" }, "call-seconds": { type: "string" }, "sample-seconds": { type: "string" }, profile: { type: "string" } },
  });
  const num = (flag: string | undefined, env: string, fallback: number, min: number, max: number): number => {
    const raw = flag ?? process.env[env];
    if (raw === undefined || raw === "") return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${env} / --${env.slice(5).toLowerCase().replace(/_/g, "-")} must be a number from ${min} to ${max}, not ${JSON.stringify(raw)}`);
    return n;
  };
  const profile = values.profile ?? process.env.SOAK_PROFILE ?? "mulaw";
  if (!PROFILES.some((p) => p.name === profile)) throw new Error(`SOAK_PROFILE / --profile must be one of ${PROFILES.map((p) => p.name).join(", ")}, not ${JSON.stringify(profile)}`);
  return {
    minutes: num(values.minutes, "SOAK_MINUTES", 30, 0.5, 24 * 60),
    concurrency: Math.round(num(values.concurrency, "SOAK_CONCURRENCY", 4, 1, 32)),
    callS: num(values["call-seconds"], "SOAK_CALL_S", 20, 2, 3600),
    sampleS: num(values["sample-seconds"], "SOAK_SAMPLE_S", 15, 2, 600),
    profile,
  };
}

/** SOAK_HEAP_SNAPSHOTS=1: the host's heap, written at both idle points (.cache/soak-<date>-before/after.heapsnapshot), to find what grew. */
const SNAPSHOTS = process.env.SOAK_HEAP_SNAPSHOTS === "1";

const progress = (msg: string) => process.stderr.write(`[soak ${elapsedS().toFixed(0).padStart(4)} s] ${msg}\n`);

function describe(s: SoakSample): string {
  const c = s.calls;
  return `calls ${c.placed} placed, ${c.ended} ok, ${c.failed} failed, ${c.active} active; host heap ${s.host.heapUsedMb} MB${s.host.heapLiveMb === null ? "" : ` (${s.host.heapLiveMb} MB after a ${s.host.gcMs} ms full GC)`}, RSS ${s.host.rssMb} MB, fds ${s.host.fds}, resources ${s.host.resources} (timers ${s.host.timers}); Chrome RSS ${s.chrome.rssMb} MB, USS ${s.chrome.ussMb} MB, fds ${s.chrome.fds}; underruns ${s.underruns}; page sessions ${s.pageSessions}; CPU Chrome ${s.chrome.cpuPct} host ${s.host.cpuPct} others ${s.cpu.othersPct} %`;
}

/** Every call over, the host and the page back to none: what a run that leaks nothing returns to. */
async function quiesce(host: Host, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (host.calls.active().length === 0 && (await host.pageSessionCount()) === 0) return;
    await sleep(250);
  }
}

async function main(): Promise<number> {
  let o: SoakOptions;
  try {
    o = options();
  } catch (err) {
    console.error(`soak: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const dir = join(ROOT, ".cache");
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:]/g, "-").replace(/\..*/, "");
  const base = join(dir, `soak-${stamp}`);
  const logs = { host: `${base}-host.log`, twin: `${base}-twin.log` };
  const git = gitState();
  const profile = PROFILES.find((p) => p.name === o.profile)!;
  progress(`commit ${git.commit}${git.dirty.length ? ` + uncommitted changes in ${git.dirty.join(", ")}` : ""}; ${o.minutes} min, ${o.concurrency} calls at a time, ${o.callS} s calls, ${o.profile}`);

  const stack = await Stack.start(logs);
  let host: Host | undefined;
  let cache: string | undefined;
  let sampler: SoakSampler | undefined;
  try {
    ({ host, cache } = stack.newHost(profile, { MAX_CONCURRENT_CALLS: String(Math.max(8, o.concurrency)) }));
    await host.start();
    let churnStartedAtMs = Date.now();
    const churn = new Churn(stack, host, { concurrency: o.concurrency, callMs: o.callS * 1000, sampleRate: profile.rate, codecs: profile.name === "mulaw" ? ["PCMU"] : undefined });
    sampler = new SoakSampler(stack, host, churn, () => churnStartedAtMs);
    await sampler.prime();
    await sleep(2000);
    const idleBefore = await sampler.settledSample(SNAPSHOTS ? `${base}-before.heapsnapshot` : undefined);
    progress(`idle: ${describe(idleBefore)}`);

    // Ctrl-C ends the churn early and still gives a verdict; a second one exits at once.
    let deadline = Date.now() + o.minutes * 60_000;
    process.once("SIGINT", () => {
      progress("interrupted: finishing the calls in progress, then the verdict (Ctrl-C again to quit)");
      deadline = 0;
      process.once("SIGINT", () => process.exit(130));
    });
    churnStartedAtMs = Date.now();
    churn.start();
    const samples: SoakSample[] = [];
    // A sample every sampleS from the churn's start, and one at its end. The first one past half
    // time and the last are checkpoints: they measure the host's live heap (verdict.ts).
    const halfAtMs = churnStartedAtMs + (o.minutes * 60_000) / 2;
    for (;;) {
      const due = churnStartedAtMs + (samples.length + 1) * o.sampleS * 1000;
      while (Date.now() < Math.min(due, deadline)) await sleep(Math.min(500, Math.min(due, deadline) - Date.now()));
      const checkpoint = Date.now() >= deadline ? "end" : Date.now() >= halfAtMs && !samples.some((x) => x.checkpoint === "mid") ? "mid" : undefined;
      const s = await sampler.sample({ fullGc: checkpoint !== undefined, checkpoint });
      samples.push(s);
      progress(`${checkpoint ? `${checkpoint} checkpoint: ` : ""}${describe(s)}`);
      if (Date.now() >= deadline) break;
    }
    progress("churn over: waiting for the calls in progress to end");
    await churn.stop();
    await quiesce(host, 20_000);
    await sleep(2000);
    const idleAfter = await sampler.settledSample(SNAPSHOTS ? `${base}-after.heapsnapshot` : undefined);
    progress(`idle: ${describe(idleAfter)}`);
    const verdict = judge(samples, { activeCalls: idleAfter.calls.active, pageSessions: idleAfter.pageSessions, failures: churn.failed });
    const record = { startedAt: new Date(churnStartedAtMs).toISOString(), git, options: o, elapsedS: Math.round(elapsedS()), idleBefore, idleAfter, samples, churn, verdict, hostLog: logs.host, twinLog: logs.twin };
    printSoak(record);
    writeSoak(record, `${base}.json`);
    return verdict.pass ? 0 : 1;
  } finally {
    sampler?.close();
    await host?.stop().catch((err: Error) => progress(`host stop failed: ${err.message}`));
    if (cache) rmSync(cache, { force: true });
    await stack.stop();
  }
}

main()
  .then((code) => process.exit(code))
  .catch((err: Error) => {
    console.error(`soak failed: ${err.stack ?? err.message}`);
    process.exit(1);
  });

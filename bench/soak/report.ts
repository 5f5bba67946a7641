/** The soak's table (stdout) and its JSON record (.cache/soak-<date>.json). */
import { writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { BUSY_PCT } from "../params.ts";
import type { GitState } from "../report.ts";
import { fmt, summarize } from "../stats.ts";
import type { Churn } from "./churn.ts";
import type { SoakSample } from "./samples.ts";
import type { Verdict } from "./verdict.ts";

export interface SoakOptions {
  minutes: number;
  concurrency: number;
  callS: number;
  sampleS: number;
  profile: string;
}

export interface SoakRecord {
  startedAt: string;
  git: GitState;
  options: SoakOptions;
  elapsedS: number;
  idleBefore: SoakSample;
  idleAfter: SoakSample;
  samples: SoakSample[];
  churn: Churn;
  verdict: Verdict;
  hostLog: string;
  twinLog: string;
}

const pad = (rows: string[][]): string => {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ")).join("\n");
};

export function printSoak(r: SoakRecord): void {
  const { verdict: v, churn: c, idleBefore: a, idleAfter: b } = r;
  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 2 ** 30)} GB, Node ${process.versions.node}`;
  console.log(`\nrc-voice-host soak, ${r.startedAt}, commit ${r.git.commit}${r.git.dirty.length ? ` + changes in ${r.git.dirty.join(", ")}` : ""}, ${machine}`);
  console.log(`${r.options.minutes} min, ${r.options.concurrency} calls at a time, calls of ${r.options.callS} s ± 50 %, ${r.options.profile}, a sample every ${r.options.sampleS} s; ran ${fmt(r.elapsedS)} s\n`);
  const setup = summarize(c.setupMs);
  console.log(`calls: ${c.placed} placed, ${c.answered} answered (media up), ${c.ended} ended well, ${c.failed} failed; set-up p50 / p95 / max ${fmt(setup.p50)} / ${fmt(setup.p95)} / ${fmt(setup.max)} ms`);
  for (const [kind, k] of Object.entries(c.byKind)) console.log(`  ${kind.padEnd(26)} ${k.placed} placed, ${k.ended} ok, ${k.failed} failed`);
  for (const f of c.failures.slice(0, 20)) console.log(`  FAILED #${f.seq} ${f.kind} at ${f.atS} s: ${f.error}`);
  if (c.failures.length > 20) console.log(`  … ${c.failures.length - 20} more failures in the JSON`);

  console.log(`\ngrowth over the second half (${fmt(v.window.fromS)}–${fmt(v.window.toS)} s, ${v.window.samples} samples, ${v.window.calls} calls):\n`);
  const rows = [["measure", "start", "mid", "end", "slope /h", "per 100 calls", "limit", ""]];
  for (const k of v.checks) rows.push([`${k.name}${k.unit ? ` (${k.unit})` : ""}`, fmt(k.start, 1), fmt(k.mid, 1), fmt(k.end, 1), fmt(k.perHour, 1), fmt(k.per100Calls, 2), k.limit === undefined ? "" : `≤ ${k.limit}`, k.limit === undefined ? "" : k.ok ? "✓" : "✗"]);
  const u = v.underruns;
  rows.push([`underruns on streaming calls, quiet windows (${u.quietWindows} of ${u.quietWindows + u.busyWindows}, ${u.quietCalls} calls)`, "", "", `${u.quiet}`, "", fmt(u.per100Calls, 2), `≤ ${u.limit}`, u.ok ? "✓" : "✗"]);
  console.log(pad(rows));
  const kinds = Object.entries(c.byKind).map(([k, n]) => `${k} ${n.underruns}`).join(", ");
  console.log(`underruns: ${u.total} in the whole run (${kinds}); in the second half ${u.inWindow}, ${u.streamingInWindow} on streaming calls, ${u.streamingInWindow - u.quiet} of those in windows where other processes used > ${BUSY_PCT} % of a core`);

  const last = r.samples.at(-1);
  const loopP99 = summarize(r.samples.map((s) => s.host.loopP99Ms));
  const loopMax = Math.max(...r.samples.map((s) => s.host.loopMaxMs));
  const others = summarize(r.samples.map((s) => s.cpu.othersPct));
  console.log(`\nidle before → after the churn: host fds ${a.host.fds} → ${b.host.fds}, resources ${a.host.resources} → ${b.host.resources} (timers ${a.host.timers} → ${b.host.timers}), heap after a full GC ${fmt(a.host.heapLiveMb ?? NaN, 1)} → ${fmt(b.host.heapLiveMb ?? NaN, 1)} MB, Chrome fds ${a.chrome.fds} → ${b.chrome.fds} (lasting processes ${a.chrome.lasting.fds} → ${b.chrome.lasting.fds}), Chrome anonymous ${fmt(a.chrome.anonMb)} → ${fmt(b.chrome.anonMb)} MB (lasting ${fmt(a.chrome.lasting.anonMb)} → ${fmt(b.chrome.lasting.anonMb)}), USS ${fmt(a.chrome.ussMb)} → ${fmt(b.chrome.ussMb)} MB, Chrome processes ${a.chrome.processes} → ${b.chrome.processes}, page JS heap ${fmt(a.chrome.pageHeapMb ?? NaN, 1)} → ${fmt(b.chrome.pageHeapMb ?? NaN, 1)} MB and ${a.chrome.pageListeners} → ${b.chrome.pageListeners} listeners, page sessions ${a.pageSessions} → ${b.pageSessions}, host calls active ${b.calls.active}`);
  if (last) console.log(`CPU (last window, % of a core): Chrome ${fmt(last.chrome.cpuPct)}, host ${fmt(last.host.cpuPct)}, twin ${fmt(last.cpu.twinPct)}, pipeline ${fmt(last.cpu.pipelinePct)}; other processes median ${fmt(others.p50)} %, max ${fmt(others.max)} %`);
  const gcMs = r.samples.flatMap((s) => (s.host.gcMs === null ? [] : [fmt(s.host.gcMs)])).join(" and ");
  console.log(`host event loop: p99 per window median ${fmt(loopP99.p50, 1)} ms, worst ${fmt(loopP99.max, 1)} ms; longest delay ${fmt(loopMax, 1)} ms; the checkpoints' forced GCs stopped it for ${gcMs || "–"} ms; V8 ran ${last?.host.majorGcs ?? 0} full GCs of its own`);
  for (const p of v.problems) console.log(`problem: ${p}`);
  console.log(`\n${v.pass ? "PASS" : "FAIL"}: ${v.pass ? "no growth beyond the limits, every call went well" : v.problems.join("; ")}`);
}

export function writeSoak(r: SoakRecord, file: string): void {
  const { churn: c } = r;
  const churn = { placed: c.placed, answered: c.answered, ended: c.ended, failed: c.failed, underruns: c.underruns, byKind: c.byKind, setupMs: summarize(c.setupMs), failures: c.failures };
  writeFileSync(file, `${JSON.stringify({ ...r, churn }, null, 1)}\n`);
  console.log(`\nresults: ${file}\nhost log: ${r.hostLog}\ntwin log: ${r.twinLog}`);
}

/** The bench's output: the table (stdout), the JSON with every sample (bench/results/), and what code was measured. */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { BUSY_PCT, TARGET, type Params } from "./params.ts";
import type { ClearResult } from "./phases/clear.ts";
import type { CostResult } from "./phases/cost.ts";
import type { DemoResult } from "./phases/demo.ts";
import type { LatencyResult } from "./phases/latency.ts";
import type { LaunchResult } from "./phases/launch.ts";
import type { PacedResult } from "./phases/paced.ts";
import type { SipResult } from "./phases/sip.ts";
import type { StallResult } from "./phases/stall.ts";
import type { StreamResult } from "./phases/stream.ts";
import { IMPAIRED, type UplinkRun } from "./phases/uplink.ts";
import { fmt, round, summarize, type Summary } from "./stats.ts";
import { ROOT } from "./twin-proc.ts";

export interface ProfileResults {
  profile: string;
  stall?: StallResult;
  latency?: LatencyResult;
  clear?: ClearResult;
  cost?: CostResult;
  /** The 8-call window (also a point on the cost line). */
  stream?: StreamResult;
  /** Pipeline → caller with a pipeline that paces its audio in real time from `start`. */
  paced?: PacedResult;
  /** Caller → pipeline on both uplinks, clean and impaired link (a host per uplink). */
  uplinks?: UplinkRun[];
  /** Every phase-5 window: 8 calls, and 16 in a full run. */
  streams?: StreamResult[];
}

const ok = (pass: boolean | undefined) => (pass === undefined ? "" : pass ? "✓" : "✗");
const pair = (s: Summary, digits = 0) => `${fmt(s.p50, digits)} / ${fmt(s.p95, digits)}`;

export function table(launch: LaunchResult | undefined, sip: SipResult | undefined, profiles: ProfileResults[], demo?: DemoResult): string {
  const rows: string[][] = [];
  const row = (what: string, result: string, target: string, pass?: boolean) => rows.push([what, result, target, ok(pass)]);
  if (launch) row(`1. Launch → registered, median / p95 (${launch.runsMs.length} runs: ${launch.runsMs.join(", ")})`, `${fmt(launch.summary.p50)} / ${fmt(launch.summary.p95)} ms`, `median ≤ ${TARGET.launchMs} ms`, launch.summary.p50 <= TARGET.launchMs);
  if (sip) {
    row(`1b. SIP socket dropped → /ready false, median / max (${sip.runs.length} drops, new sockets refused ${sip.refusedForMs} ms)`, `${fmt(sip.notReady.p50)} / ${fmt(sip.notReady.max)} ms`, `≤ ${TARGET.sipNotReadyMs} ms`, sip.notReady.max <= TARGET.sipNotReadyMs);
    row("    → registered again by itself, median / max", `${fmt(sip.registered.p50)} / ${fmt(sip.registered.max)} ms`, "by itself", sip.runs.length > 0);
  }
  for (const p of profiles) {
    const tag = `[${p.profile}]`;
    const l = p.latency;
    if (l) {
      const a = l.pipelineToCaller;
      row(`2a. Pipeline → caller, p50 / p95 ${tag} (${a.summary.n} bursts over ${l.calls} calls${a.missed ? `, ${a.missed} missed` : ""}, ${l.codecs.join(",")})`, `${pair(a.summary)} ms`, `p95 ≤ ${TARGET.latencyP95Ms} ms`, a.summary.p95 <= TARGET.latencyP95Ms);
      row("    pipeline → host (WebSocket, parse)", `${pair(a.pipelineToHost, 1)} ms`, "");
      row("    ≈ host → page consumed (page link, worker, worklet quantum; ± 1 quantum)", `${pair(a.hostToPageConsumed, 1)} ms`, "");
      row("    ≈ page → caller's ear (WebRTC send path: 10 ms capture, packet, RTP; ± 1 quantum)", `${pair(a.pageToCaller, 1)} ms`, "");
      row(`    host's share (pipeline → page consumed), sum of the p95s`, `${fmt(a.pipelineToHost.p95 + a.hostToPageConsumed.p95, 1)} ms`, `≤ ${TARGET.latencyP95Ms} ms`, a.pipelineToHost.p95 + a.hostToPageConsumed.p95 <= TARGET.latencyP95Ms);
      const b = l.callerToPipeline;
      const up = TARGET.uplinkP95Ms[p.profile] ?? TARGET.latencyP95Ms;
      const fast = l.uplinks.every((u) => u === "fast");
      row(`2b. Caller → pipeline, p50 / p95 ${tag} (UPLINK=${l.uplinks.join(",")}, ${b.summary.n} bursts${b.missed ? `, ${b.missed} missed` : ""})`, `${pair(b.summary)} ms`, `p95 ≤ ${up} ms`, b.summary.p95 <= up);
      row(fast ? "    caller → host (RTP, encoded transform, decode in a worker, page link)" : "    caller → host (RTP, Chrome jitter buffer, WebAudio, worklet, page link)", `${pair(b.callerToHost, 1)} ms`, "");
      if (l.jitterBuffer.length) row(fast ? "    Chrome's jitter buffer, not on this path (WebRTC stats, per call: average delay)" : "    of which Chrome's jitter buffer (WebRTC stats, per call: average delay)", `${l.jitterBuffer.map((j) => fmt(j.avgDelayMs, 1)).join(", ")} ms`, "");
      row("    host → pipeline (encode, WebSocket)", `${pair(b.hostToPipeline, 1)} ms`, "");
      row("    of which 20 ms framing (rest of the frame after the onset)", `${pair(b.framingMs, 1)} ms`, "");
    }
    const pc = p.paced;
    if (pc) row(`2c. Pipeline → caller, pipeline paced in real time from \`start\`, p50 / p95 ${tag} (${pc.summary.n} bursts from ${fmt(pc.afterMs / 1000)} s on${pc.missed ? `, ${pc.missed} missed` : ""}; whole call ${pair(pc.all)} ms)`, `${pair(pc.summary)} ms`, `p95 ≤ ${TARGET.latencyP95Ms} ms`, pc.summary.p95 <= TARGET.latencyP95Ms);
    for (const u of p.uplinks ?? []) {
      const up = TARGET.uplinkP95Ms[p.profile] ?? TARGET.latencyP95Ms;
      const link = u.link === "clean" ? "clean link" : `${IMPAIRED.lossRate * 100} % loss, ${IMPAIRED.delayMs.min}–${IMPAIRED.delayMs.max} ms delay`;
      row(`2d. Caller → pipeline side by side ${tag}, UPLINK=${u.uplink}, ${link} (${u.summary.n} bursts${u.missed ? `, ${u.missed} missed` : ""}; RTP lost ${u.packetsLost}, reordered ${u.packetsReordered}; gaps filled ${u.gapsFilled})`, `${pair(u.summary)} ms`, u.link === "clean" ? `p95 ≤ ${up} ms` : "", u.link === "clean" ? u.summary.p95 <= up : undefined);
    }
    const c = p.clear;
    if (c) {
      row(`3. clear → silence at the caller, p50 / p95 ${tag} (${c.summary.n} reps${c.unanchored ? `, ${c.unanchored} left out: misplaced in the recording` : ""})`, `${pair(c.summary)} ms`, `≤ ${TARGET.clearMs} ms`, c.summary.p95 <= TARGET.clearMs);
      row(`    page-only part (est.: minus transit and the call's send path ${c.sendPathMs.join(", ")} ms; 1 quantum = ${fmt(c.quantumMs, 1)} ms)`, `${pair(c.pageOnlyEstimate, 1)} ms`, `≤ ${TARGET.clearMs} ms`, c.pageOnlyEstimate.p95 <= TARGET.clearMs);
    }
    const k = p.cost;
    if (k) {
      for (const pt of k.points) {
        const u = pt.usage;
        row(`4. ${pt.calls} call(s) ${tag}${pt.fromStream ? " (in 5.)" : ""}: CPU % of a core chrome / host / twin / pipeline (others); USS (PSS) MB chrome / host`, `${fmt(u.chrome.cpuPct, 1)} / ${fmt(u.host.cpuPct, 1)} / ${fmt(u.twin.cpuPct, 1)} / ${fmt(u.pipeline.cpuPct, 1)} (${fmt(pt.machine.othersPct, 1)}) %; ${fmt(u.chrome.ussMb)} (${fmt(u.chrome.pssMb)}) / ${fmt(u.host.ussMb)} (${fmt(u.host.pssMb)}) MB`, "");
      }
      const line = k.marginal ?? k.slope;
      const over = k.marginal ? "slope over 1–8 calls" : "slope over 0–8 calls";
      const cpu = line.chromeCpuPct + line.hostCpuPct;
      const mb = line.chromeMb + line.hostMb;
      row(`4. CPU per extra call ${tag}, ${over}: chrome + host (chrome ${fmt(line.chromeCpuPct, 1)}, host ${fmt(line.hostCpuPct, 1)}; twin ${fmt(line.twinCpuPct, 1)} apart)`, `${fmt(cpu, 1)} % of a core`, `≤ ${TARGET.cpuPerCallPct} %`, cpu <= TARGET.cpuPerCallPct);
      row(`4. Memory per extra call ${tag}, ${over}: chrome + host USS (chrome ${fmt(line.chromeMb, 1)}, host ${fmt(line.hostMb, 1)}; PSS ${fmt(line.chromePssMb + line.hostPssMb, 1)})`, `${fmt(mb, 1)} MB`, `≤ ${TARGET.mbPerCall} MB`, mb <= TARGET.mbPerCall);
      const idle = k.points.find((pt) => pt.calls === 0);
      if (idle) {
        const pss = idle.usage.chrome.pssMb + idle.usage.host.pssMb;
        row(`    idle (registered, no call) ${tag}: Chrome CPU; whole tree PSS (chrome ${fmt(idle.usage.chrome.pssMb)} + host ${fmt(idle.usage.host.pssMb)})`, `${fmt(idle.usage.chrome.cpuPct, 1)} %; ${fmt(pss)} MB`, `≤ ${TARGET.idleChromeCpuPct} %; ≤ ${TARGET.idlePssMb} MB`, idle.usage.chrome.cpuPct <= TARGET.idleChromeCpuPct && pss <= TARGET.idlePssMb);
      }
      if (k.firstCall) {
        const first = k.firstCall.chromeCpuPct + k.firstCall.hostCpuPct;
        row(`    first call (0 → 1): chrome + host CPU; USS`, `+${fmt(first, 1)} %; ${fmt(k.firstCall.chromeMb + k.firstCall.hostMb, 1)} MB`, `≤ +${TARGET.firstCallCpuPct} %`, first <= TARGET.firstCallCpuPct);
      }
    }
    for (const s of p.streams ?? (p.stream ? [p.stream] : [])) {
      const under = s.underruns.reduce((x, y) => x + y, 0);
      const max = (v: number[]) => Math.max(...v);
      row(`5. ${s.calls} calls streaming both ways ${tag} (${s.codecs.join(",")}, ${fmt(s.steadyMs / 1000)} s steady): playout underruns (all calls, whole calls)`, String(under), `${TARGET.underruns}`, under === TARGET.underruns);
      row(`    longest gap the callers heard, steady (per call: ${s.steady.heardMs.join(", ")})`, `${fmt(max(s.steady.heardMs))} ms`, `≤ ${TARGET.gapMs} ms`, max(s.steady.heardMs) <= TARGET.gapMs);
      row(`    longest gap in the callers' tone at the pipeline, steady`, `${fmt(max(s.steady.pipelineMs))} ms`, `≤ ${TARGET.gapMs} ms`, max(s.steady.pipelineMs) <= TARGET.gapMs);
      row(`    same over the whole calls, while later calls were set up: heard / at pipeline`, `${fmt(max(s.whole.heardMs))} / ${fmt(max(s.whole.pipelineMs))} ms`, `≤ ${TARGET.gapMs} ms`, max(s.whole.heardMs) <= TARGET.gapMs && max(s.whole.pipelineMs) <= TARGET.gapMs);
      const lost = s.lostFrames.filter((x) => !Number.isNaN(x));
      row(`    longest wait between caller frames at the host: steady / whole${lost.length ? "; RTP packets lost on calls with gaps" : ""}`, `${fmt(max(s.steady.hostFrameMs))} / ${fmt(max(s.whole.hostFrameMs))} ms${lost.length ? `; ${lost.reduce((x, y) => x + y, 0)}` : ""}`, "");
      row(`    host event loop delay p99 / max: steady; whole`, `${fmt(s.steady.eventLoop.p99Ms, 1)} / ${fmt(s.steady.eventLoop.maxMs, 1)}; ${fmt(s.whole.eventLoop.p99Ms, 1)} / ${fmt(s.whole.eventLoop.maxMs, 1)} ms`, "");
      const c = s.cdpOverhead;
      if (c && !c.off) row("    CDP Network events for media frames (puppeteer's network monitoring)", `${fmt(c.eventsPerS)}/s`, "");
      else if (c?.off) {
        const saved = c.on.usage.chrome.cpuPct + c.on.usage.host.cpuPct - (c.off.usage.chrome.cpuPct + c.off.usage.host.cpuPct);
        row(
          `    CDP Network events for media frames: ${fmt(c.eventsPerS)}/s, ${fmt(c.kibPerS)} KiB/s; CPU chrome / host with the domain on → off`,
          `${fmt(c.on.usage.chrome.cpuPct, 1)} / ${fmt(c.on.usage.host.cpuPct, 1)} → ${fmt(c.off.usage.chrome.cpuPct, 1)} / ${fmt(c.off.usage.host.cpuPct, 1)} % (${fmt(saved, 1)} % of a core, ${fmt(saved / s.calls, 1)} per call)`,
          "",
        );
      }
      row(`    CPU % chrome / host / twin / pipeline (others); USS MB chrome / host (steady)`, `${fmt(s.usage.chrome.cpuPct, 1)} / ${fmt(s.usage.host.cpuPct, 1)} / ${fmt(s.usage.twin.cpuPct, 1)} / ${fmt(s.usage.pipeline.cpuPct, 1)} (${fmt(s.machine.othersPct, 1)}) %; ${fmt(s.usage.chrome.ussMb)} / ${fmt(s.usage.host.ussMb)} MB`, "");
      if (p.stall && s === p.stream) row(`5c. Underrun counter vs ${p.stall.stalls} host event-loop stalls of ${p.stall.stallMs} ms: gaps the caller heard / underruns counted`, `${p.stall.gapsHeardMs.join(", ") || "none"} ms / ${p.stall.underrunsCounted}`, "each gap counted", p.stall.underrunsCounted >= p.stall.gapsHeardMs.length);
    }
  }
  if (demo) {
    const d = demo.summary;
    row(`6. \`npm run demo\` echo round trip (caller → pipeline → caller, beep onset), median / max (${demo.roundTripMs.length} runs: ${demo.roundTripMs.join(", ")}${demo.failed ? `; ${demo.failed} failed` : ""})`, d ? `${fmt(d.p50)} / ${fmt(d.max)} ms` : "not measured", `≤ ${TARGET.demoRoundTripMs} ms`, d ? d.p50 <= TARGET.demoRoundTripMs && !demo.failed : false);
  }
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => [...r[i]].length), ["Measurement", "Result", "Target", "OK"][i].length));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c + " ".repeat(widths[i] - [...c].length)).join(" | ")} |`;
  return [line(["Measurement", "Result", "Target", "OK"]), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

export interface GitState {
  commit: string;
  dirty: string[];
}

/** What was measured: the commit, and the files changed on top of it (the working tree may be ahead). */
export function gitState(): GitState {
  const git = (...args: string[]) => {
    try {
      return execFileSync("git", args, { cwd: ROOT, stdio: ["ignore", "pipe", "ignore"] }).toString().trimEnd();
    } catch {
      return "";
    }
  };
  return { commit: git("rev-parse", "--short", "HEAD") || "unknown", dirty: git("status", "--porcelain", "--untracked-files=no").split("\n").filter(Boolean).map((l) => l.slice(3)) };
}

export interface RunRecord {
  quick: boolean;
  git: GitState;
  params: Params;
  launch: LaunchResult | undefined;
  sip: SipResult | undefined;
  demo?: DemoResult;
  profiles: ProfileResults[];
  /** Other processes' CPU in each measurement window. */
  background: number[];
  hostLog: string;
  elapsedS: number;
  /** Where the JSON goes. */
  file: string;
}

/** Prints the table and its context to stdout and writes everything to `run.file`. */
export function writeReport(run: RunRecord): void {
  const cores = cpus().length;
  const out = table(run.launch, run.sip, run.profiles, run.demo);
  const busy = summarize(run.background);
  const warnings = existsSync(run.hostLog) ? readFileSync(run.hostLog, "utf8").split("\n").filter(Boolean) : [];
  const git = run.git;
  console.log(`\nrc-voice-host bench (${run.quick ? "quick" : "full"}), ${new Date().toISOString()}, commit ${git.commit}${git.dirty.length ? ` + changes in ${git.dirty.join(", ")}` : ""}, ${cores} cores, ${run.elapsedS.toFixed(0)} s\n`);
  console.log(out);
  console.log(`\nother processes' CPU during the ${busy.n} measurement windows (not ours; ${cores} cores = ${cores * 100} %): median ${fmt(busy.p50, 1)} %, max ${fmt(busy.max, 1)} %${busy.max > BUSY_PCT ? "  ← the machine was not quiet: expect worse numbers" : ""}`);
  console.log(`\nhost log: ${warnings.length} warning/error line(s) in ${run.hostLog}`);
  writeFileSync(
    run.file,
    JSON.stringify({ quick: run.quick, at: new Date().toISOString(), git, machine: { cores, cpu: cpus()[0]?.model, memGb: round(totalmem() / 2 ** 30) }, targets: TARGET, params: run.params, launch: run.launch, sip: run.sip, demo: run.demo, profiles: run.profiles, backgroundCpuPct: run.background.map((x) => round(x, 1)), hostLogLines: warnings.length, table: out }, null, 2),
  );
  console.log(`results: ${run.file}`);
}

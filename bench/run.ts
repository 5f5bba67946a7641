/**
 * `npm run bench [-- --quick]`: measures rc-voice-host against its design targets on this
 * machine, prints a table and writes bench/results/<date>.json. Always exits 0: a benchmark
 * reports, it does not fail CI. How each number is measured: docs/BENCH.md.
 *
 * Processes: this one runs the host (real Chrome) and the bench; the twin (twin/cli.ts) and the
 * test pipeline (bench/pipeline.ts) run in their own processes, so their CPU is not the host's
 * and their event loops never delay it. /proc is read in a child process (bench/procstat.ts).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { Page } from "puppeteer";
import { join } from "node:path";
import pino from "pino";
import { Host } from "../host/host.ts";
import { loadConfig } from "../host/config.ts";
import { createLogger } from "../host/log.ts";
import { blockPowers, longestGap, offsetAfter, onsetAfter, presence10ms } from "./audio.ts";
import { callInternals, consumedAtMs, installProbes, probes, type PlayoutTrace } from "./instrument.ts";
import { PipelineProcess } from "./pipeline-proc.ts";
import type { Plan, StreamReport } from "./pipeline.ts";
import { ProcSampler, machine, usage, type GroupSpec, type GroupUsage } from "./procstat.ts";
import { fmt, linearFit, median, round, summarize, type Summary } from "./stats.ts";
import { ROOT, TwinProcess, type Placed } from "./twin-proc.ts";

const QUICK = process.argv.includes("--quick");
const argValue = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
/** `--only=latency,clear,cost,stream,launch` and `--profiles=mulaw,l16-16000`: run a part (for investigating). */
const ONLY = argValue("only")?.split(",");
const PROFILE_FILTER = argValue("profiles")?.split(",");
const runs = (phase: string) => !ONLY || ONLY.includes(phase);

/** What each phase does, full and --quick. */
const P = QUICK
  ? { launchRuns: 3, bursts: 10, latencyCalls: 1, clears: 4, clearCalls: 1, costLevels: [0, 1, 4], windowMs: 4000, settleMs: 1500, streamMs: 8000, opusLatency: false, opusCostLevels: [0], cdpWindowMs: 3000, cdpProfiles: ["mulaw"], stallCheck: false }
  : { launchRuns: 5, bursts: 30, latencyCalls: 3, clears: 10, clearCalls: 2, costLevels: [0, 1, 2, 4, 8], windowMs: 10_000, settleMs: 3000, streamMs: 20_000, opusLatency: true, opusCostLevels: [0, 1], cdpWindowMs: 5000, cdpProfiles: ["mulaw", "l16-16000"], stallCheck: true };

/** Other processes using more than this (% of one core) make a window suspect. */
const BUSY_PCT = 30;

const TARGET = { latencyP95Ms: 50, clearMs: 20, cpuPerCallPct: 10, mbPerCall: 30, underruns: 0, gapMs: 60 };

const RESULTS_DIR = join(ROOT, "bench", "results");
const STAMP = new Date().toISOString().replace(/[:]/g, "-").replace(/\..*/, "");
const HOST_LOG = join(RESULTS_DIR, `${STAMP}${QUICK ? "-quick" : ""}-host.log`);
const TWIN_LOG = join(RESULTS_DIR, `${STAMP}${QUICK ? "-quick" : ""}-twin.log`);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const t0 = Date.now();
const progress = (msg: string) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);

async function until<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

// ── the stack ─────────────────────────────────────────────────────────────────

interface Profile {
  name: "mulaw" | "l16-16000";
  env: Record<string, string>;
  rate: number;
}

const PROFILES: Profile[] = [
  { name: "mulaw", env: { PIPELINE_AUDIO: "mulaw" }, rate: 8000 },
  { name: "l16-16000", env: { PIPELINE_AUDIO: "l16-16000" }, rate: 16000 },
];

let twin: TwinProcess;
let pipeline: PipelineProcess;
let sampler: ProcSampler;
let hostSeq = 0;

function newHost(profile: Profile): { host: Host; cache: string } {
  const cache = `/tmp/rc-voice-host-bench-${process.pid}-${++hostSeq}.json`;
  const config = loadConfig({
    RINGCENTRAL_SERVER_URL: twin.info.restUrl,
    RINGCENTRAL_CLIENT_ID: twin.info.clientId,
    RINGCENTRAL_CLIENT_SECRET: twin.info.clientSecret,
    RINGCENTRAL_JWT_TOKEN: twin.info.jwt,
    RINGCENTRAL_SIP_INSECURE_TLS: "true",
    PIPELINE_URL: pipeline.url,
    SIP_INFO_CACHE: cache,
    ...profile.env,
  });
  const log = createLogger((process.env.BENCH_HOST_LOG_LEVEL as "warn" | undefined) ?? "warn", { destination: pino.destination({ dest: HOST_LOG, sync: true, append: true }) });
  return { host: new Host(config, log), cache };
}

let callSeq = 0;
const nextFrom = () => `+1555${String(7_000_000 + ++callSeq)}`;

interface LiveCall {
  from: string;
  placed: Placed;
  playout: PlayoutTrace;
  internals: NonNullable<ReturnType<typeof callInternals>>;
  codec: string | undefined;
}

/** Plans the pipeline's side, has the twin's caller ring, and waits until the host's media is up. */
async function placeCall(host: Host, play: string, plan: Plan): Promise<LiveCall> {
  const from = nextFrom();
  pipeline.plan(from, plan);
  const placed = await twin.placeCall({ from, play });
  const call = await until(() => {
    const c = host.calls.byTelephonySession(placed.telephonySessionId);
    return c?.mediaConnectedAtMs && c.stream ? c : undefined;
  }, `media of ${placed.callId}`, 30_000);
  const internals = callInternals(host, placed.telephonySessionId)!;
  // Caller frames flow from the answer on, so the always-on probe has seen this playout by now.
  const playout = await until(() => probes.playouts.get(internals.playout), "a caller frame at the host");
  return { from, placed, playout, internals, codec: call.codec };
}

async function hangupAll(host: Host, calls: LiveCall[]): Promise<void> {
  await Promise.all(calls.map((c) => twin.hangup(c.placed.callId)));
  await until(() => calls.every((c) => host.calls.byTelephonySession(c.placed.telephonySessionId)?.state === "ended"), "the host to end the calls");
}

function groups(host: Host): Record<string, GroupSpec> {
  return {
    chrome: { pid: host.browserProcess()!.pid!, tree: true, threads: true },
    host: { pid: process.pid, tree: false, threads: true },
    twin: { pid: twin.pid, tree: true },
    pipeline: { pid: pipeline.pid, tree: true },
    sampler: { pid: sampler.pid, tree: false },
  };
}

interface Window {
  usage: Record<string, GroupUsage>;
  /** The whole machine: total CPU, and what other processes (not ours) used meanwhile. */
  machine: { totalPct: number; othersPct: number };
}

/** Other processes' CPU in every window: a benchmark on a shared machine says when it was not alone. */
const background: number[] = [];

async function measureWindow(host: Host | undefined, ms: number): Promise<Window> {
  const spec = host ? groups(host) : { host: { pid: process.pid, tree: false }, twin: { pid: twin.pid, tree: true }, pipeline: { pid: pipeline.pid, tree: true } };
  const a = await sampler.sample(spec);
  await sleep(ms);
  const b = await sampler.sample(spec);
  const u = usage(a, b);
  const w = { usage: u, machine: machine(a, b, u) };
  background.push(w.machine.othersPct);
  return w;
}

/** The host process's event-loop delay over a phase (max and p99, ms): stalls delay every call's media. */
function loopMonitor(): () => { maxMs: number; p99Ms: number } {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  return () => {
    h.disable();
    return { maxMs: round(h.max / 1e6, 1), p99Ms: round(h.percentile(99) / 1e6, 1) };
  };
}

/** Chrome's receive-side jitter buffer (NetEq) for the page's calls, from WebRTC stats (window.phone.stats()). */
async function jitterBuffers(host: Host): Promise<Array<{ avgDelayMs: number; targetDelayMs: number; minimumDelayMs: number }>> {
  const page = (host as unknown as { page: Page | undefined }).page;
  if (!page) return [];
  const stats = (await page.evaluate(() => (window as unknown as { phone: { stats(): Promise<Record<string, unknown[]>> } }).phone.stats())) as Record<string, Array<Record<string, number | string>>>;
  const out: Array<{ avgDelayMs: number; targetDelayMs: number; minimumDelayMs: number }> = [];
  for (const list of Object.values(stats)) {
    for (const s of list) {
      if (s.type !== "inbound-rtp") continue;
      const emitted = Number(s.jitterBufferEmittedCount) || NaN;
      out.push({
        avgDelayMs: round((Number(s.jitterBufferDelay) / emitted) * 1000, 1),
        targetDelayMs: round((Number(s.jitterBufferTargetDelay) / emitted) * 1000, 1),
        minimumDelayMs: round((Number(s.jitterBufferMinimumDelay) / emitted) * 1000, 1),
      });
    }
  }
  return out;
}

// ── 1. launch → registered ────────────────────────────────────────────────────

async function benchLaunch(): Promise<{ runsMs: number[]; summary: Summary }> {
  const runsMs: number[] = [];
  for (let i = 0; i < P.launchRuns; i++) {
    const start = performance.now();
    const { host, cache } = newHost(PROFILES[0]);
    await host.start();
    const ms = performance.now() - start;
    if (!host.status().registered) throw new Error("host.start() resolved but the host is not registered");
    runsMs.push(round(ms, 0));
    progress(`launch run ${i + 1}: ${ms.toFixed(0)} ms`);
    await host.stop();
    rmSync(cache, { force: true });
    await sleep(300);
  }
  return { runsMs, summary: summarize(runsMs) };
}

// ── 2. per-direction latency ──────────────────────────────────────────────────

interface LatencyResult {
  codecs: string[];
  calls: number;
  /** Per call: the twin's first-packet anchor minus the least-delayed-packet anchor used here (ms). */
  anchorCorrectionMs: number[];
  /** Chrome's jitter buffer on the caller's audio (average over each call). */
  jitterBuffer: Array<{ avgDelayMs: number; targetDelayMs: number; minimumDelayMs: number }>;
  /** Time between caller frames reaching the host (the page's capture cadence). */
  frameIntervalMs: Summary;
  eventLoop: Array<{ maxMs: number; p99Ms: number }>;
  pipelineToCaller: { ms: number[]; summary: Summary; pipelineToHost: Summary; hostToPageConsumed: Summary; pageToCaller: Summary; missed: number };
  callerToPipeline: { ms: number[]; summary: Summary; callerToHost: Summary; hostToPipeline: Summary; framingMs: Summary; missed: number };
}

/** Pipeline → caller for each sent onset: heard in the recording, and split at the host's probes. */
function playoutPath(sentAtMs: number[], powers: Float32Array, startedAt: number, trace: PlayoutTrace) {
  const out = { total: [] as number[], toHost: [] as number[], toPage: [] as number[], toCaller: [] as number[], missed: 0 };
  for (const sent of sentAtMs) {
    const rel = sent - startedAt;
    const onset = onsetAfter(powers, rel - 20, rel + 400, 50);
    if (onset === undefined) {
      out.missed++;
      continue;
    }
    const heard = startedAt + onset;
    out.total.push(heard - sent);
    const push = trace.pushes.find((p) => p.atMs >= sent - 5 && p.atMs < sent + 250);
    if (!push) continue;
    const consumed = consumedAtMs(trace, push.pos);
    out.toHost.push(push.atMs - sent);
    if (consumed !== undefined) {
      out.toPage.push(consumed - push.atMs);
      out.toCaller.push(heard - consumed);
    }
  }
  return out;
}

async function benchLatency(host: Host, profile: Profile): Promise<LatencyResult> {
  const HZ = 1000;
  const leadInMs = 1500;
  const everyMs = 500;
  const burstMs = 100;
  const callerStartMs = 1000;
  const a = { total: [] as number[], toHost: [] as number[], toPage: [] as number[], toCaller: [] as number[], missed: 0 };
  const b = { total: [] as number[], toHost: [] as number[], toPipeline: [] as number[], framing: [] as number[], missed: 0 };
  const codecs = new Set<string>();
  const jitter: LatencyResult["jitterBuffer"] = [];
  const loops: LatencyResult["eventLoop"] = [];
  const intervals: number[] = [];
  const anchorFix: number[] = [];
  // Several calls: each call has its own phase between the 20 ms frames, the render quanta and
  // the RTP packets, which shifts its latency by a few ms; one call would show only one phase.
  const perCall = Math.ceil(P.bursts / P.latencyCalls);
  for (let n = 0; n < P.latencyCalls; n++) {
    const play = ["silence/" + callerStartMs, ...Array.from({ length: perCall }, () => `tone:${HZ}/${burstMs},silence/${everyMs - burstMs}`)].join(",");
    probes.enabled = true;
    probes.detectHz = HZ;
    const loop = loopMonitor();
    const call = await placeCall(host, play, { kind: "latency", hz: HZ, burstMs, everyMs, count: perCall, leadInMs, detectHz: HZ });
    codecs.add(call.codec ?? "?");
    // The pipeline's bursts start leadInMs after its first caller frame; the caller's 1 s after connecting.
    await sleep(leadInMs + perCall * everyMs + 600);
    loops.push(loop());
    const session = call.internals.session ? probes.sessions.get(call.internals.session) : undefined;
    probes.enabled = false;
    jitter.push(...(await jitterBuffers(host).catch(() => [])));
    await hangupAll(host, [call]);
    const report = await pipeline.report(call.from);
    const view = await twin.call(call.placed.callId);
    const rec = await twin.recording(call.placed.callId);
    const startedAt = rec.anchorMs ?? rec.startedAtMs ?? view.heard!.startedAtMs!;
    anchorFix.push(round((rec.startedAtMs ?? startedAt) - startedAt, 1));

    // (a) pipeline → caller: each burst's onset in the caller's recording, 2.5 ms blocks.
    const one = playoutPath(report.burstsSentAtMs, blockPowers(rec.samples, rec.rate, HZ), startedAt, call.playout);
    a.total.push(...one.total);
    a.toHost.push(...one.toHost);
    a.toPage.push(...one.toPage);
    a.toCaller.push(...one.toCaller);
    a.missed += one.missed;

    // (b) caller → pipeline: the caller's bursts are due at connectedAtMs + 1000 + k·500 (its frame clock).
    // The caller's frame clock starts at its first frame's due time (≈ connectedAtMs); a frame the
    // twin sent late (its tick ran late) counts from when it really went.
    const clockZero = rec.firstDueMs ?? view.caller.connectedAtMs!;
    const frame = report.sampleRate / 50;
    for (let k = 0; k < perCall; k++) {
      const offset = callerStartMs + k * everyMs;
      const due = clockZero + offset + (rec.lateMs?.get(Math.round(offset / 20)) ?? 0);
      const got = report.onsets.find((o) => o.atMs >= due && o.atMs < due + 400);
      if (!got) {
        b.missed++;
        continue;
      }
      b.total.push(got.atMs - due);
      // The rest of the 20 ms frame after the onset had to be captured before the frame could go.
      b.framing.push(((frame - got.frameSample) * 1000) / report.sampleRate);
      const atHost = session?.onsets.find((o) => o.atMs >= due && o.atMs < due + 400);
      if (atHost) {
        b.toHost.push(atHost.atMs - due);
        b.toPipeline.push(got.atMs - atHost.atMs);
      }
    }
    const fr = call.playout.frames;
    intervals.push(...fr.slice(1).map((f, i) => f.atMs - fr[i].atMs));
    progress(`latency ${profile.name} call ${n + 1}: pipeline→caller p50 ${fmt(median(one.total))} ms, caller→pipeline p50 ${fmt(median(b.total.slice(-perCall)))} ms`);
  }
  return {
    codecs: [...codecs],
    calls: P.latencyCalls,
    anchorCorrectionMs: anchorFix,
    jitterBuffer: jitter,
    frameIntervalMs: summarize(intervals),
    eventLoop: loops,
    pipelineToCaller: { ms: a.total.map((x) => round(x)), summary: summarize(a.total), pipelineToHost: summarize(a.toHost), hostToPageConsumed: summarize(a.toPage), pageToCaller: summarize(a.toCaller), missed: a.missed },
    callerToPipeline: { ms: b.total.map((x) => round(x)), summary: summarize(b.total), callerToHost: summarize(b.toHost), hostToPipeline: summarize(b.toPipeline), framingMs: summarize(b.framing), missed: b.missed },
  };
}

// ── 3. clear → silence ────────────────────────────────────────────────────────

interface ClearResult {
  ms: number[];
  summary: Summary;
  pipelineToHost: Summary;
  /** The same call's page → caller path, from each tone's onset (median per call). */
  sendPathMs: number[];
  /** clear → silence minus the pipeline → host transit and the call's page → caller path. */
  pageOnlyEstimate: Summary;
  quantumMs: number;
  missed: number;
}

async function benchClear(host: Host, profile: Profile): Promise<ClearResult> {
  const HZ = 700;
  const gapMs = 600;
  const leadInMs = 800;
  const ms: number[] = [];
  const toHost: number[] = [];
  const pageOnly: number[] = [];
  const sendPaths: number[] = [];
  let missed = 0;
  const perCall = Math.ceil(P.clears / P.clearCalls);
  for (let n = 0; n < P.clearCalls; n++) {
    // Spread the clear over the render quantum's phase: a fixed spacing could always land alike.
    const clearAfterMs = Array.from({ length: perCall }, (_, i) => 900 + (((n * perCall + i) * 137) % 500));
    probes.enabled = true;
    const call = await placeCall(host, "silence", { kind: "clear", hz: HZ, toneMs: 3000, clearAfterMs, gapMs, leadInMs });
    await sleep(leadInMs + clearAfterMs.reduce((x, y) => x + y + gapMs, 0) + 500);
    probes.enabled = false;
    await hangupAll(host, [call]);
    const report = await pipeline.report(call.from);
    const rec = await twin.recording(call.placed.callId);
    const startedAt = rec.anchorMs ?? rec.startedAtMs!;
    const powers = blockPowers(rec.samples, rec.rate, HZ);
    // This call's send path (page → caller), from the onset of each of its tones.
    const onsets = playoutPath(report.tonesSentAtMs, powers, startedAt, call.playout);
    const sendPath = median(onsets.toCaller);
    sendPaths.push(round(sendPath, 1));
    report.clearsSentAtMs.forEach((sent, i) => {
      const rel = sent - startedAt;
      const off = offsetAfter(powers, rel - 100, rel + 500, 100);
      if (off === undefined) {
        missed++;
        return;
      }
      const total = startedAt + off - sent;
      ms.push(total);
      const handled = call.playout.clears[i];
      if (handled !== undefined) {
        toHost.push(handled - sent);
        pageOnly.push(total - (handled - sent) - sendPath);
      }
    });
    progress(`clear ${profile.name} call ${n + 1}: p50 ${fmt(median(ms.slice(-perCall)))} ms (send path ${fmt(sendPath, 1)} ms)`);
  }
  const quantumMs = (128 * 1000) / profile.rate;
  return { ms: ms.map((x) => round(x)), summary: summarize(ms), pipelineToHost: summarize(toHost), sendPathMs: sendPaths, pageOnlyEstimate: summarize(pageOnly), quantumMs, missed };
}

// ── 4. per-call cost ──────────────────────────────────────────────────────────

interface CostPoint {
  calls: number;
  usage: Record<string, GroupUsage>;
  machine: Window["machine"];
  /** Measured in phase 5 (tones streaming both ways) rather than with echoing speech. */
  fromStream?: boolean;
}

/** CPU in % of one core; memory in MB of USS (private) and of PSS. */
type Slopes = { chromeCpuPct: number; hostCpuPct: number; chromeMb: number; hostMb: number; chromePssMb: number; hostPssMb: number; twinCpuPct: number; pipelineCpuPct: number };

interface CostResult {
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

function costLines(points: CostPoint[]): Pick<CostResult, "slope" | "marginal" | "firstCall"> {
  const withCalls = points.filter((p) => p.calls >= 1);
  const zero = points.find((p) => p.calls === 0);
  const one = points.find((p) => p.calls === 1);
  return { slope: slopes(points), marginal: withCalls.length >= 2 ? slopes(withCalls) : undefined, firstCall: zero && one ? slopes([zero, one]) : undefined };
}

function describeUsage(w: Window): string {
  const u = w.usage;
  return `chrome ${fmt(u.chrome.cpuPct, 1)} % ${fmt(u.chrome.ussMb)} MB, host ${fmt(u.host.cpuPct, 1)} % ${fmt(u.host.ussMb)} MB, twin ${fmt(u.twin.cpuPct, 1)} %, pipeline ${fmt(u.pipeline.cpuPct, 1)} %; other processes ${fmt(w.machine.othersPct, 1)} %`;
}

async function benchCost(host: Host, profile: Profile, levels: number[]): Promise<CostResult> {
  const calls: LiveCall[] = [];
  const points: CostPoint[] = [];
  for (const level of levels) {
    const add = level - calls.length;
    for (let i = 0; i < add; i++) {
      // A tone, not the speech sample: the twin converts a WAV sample by sample on its event loop
      // (≈ 2.4 µs a sample: 1.7 s for 85 s at 8 kHz, 4.6 s for 40 s at 48 kHz), which stalls every
      // other call's media in the twin and, at 48 kHz, made calls fail to set up.
      calls.push(await placeCall(host, "tone:440", { kind: "echo" }));
      await sleep(150);
    }
    await sleep(level === 0 ? 1000 : P.settleMs);
    let w = await measureWindow(host, P.windowMs);
    // Another process took a big share of the 2 cores meanwhile: measure again, once.
    if (w.machine.othersPct > BUSY_PCT) {
      progress(`cost ${profile.name} at ${level} call(s): other processes used ${fmt(w.machine.othersPct)} % of a core; measuring again`);
      w = await measureWindow(host, P.windowMs);
    }
    points.push({ calls: level, usage: w.usage, machine: w.machine });
    progress(`cost ${profile.name} at ${level} call(s): ${describeUsage(w)}`);
  }
  await hangupAll(host, calls);
  const underruns = calls.reduce((s, c) => s + (host.calls.byTelephonySession(c.placed.telephonySessionId)?.streamStats?.underruns ?? 0), 0);
  await Promise.all(calls.map((c) => pipeline.report(c.from).catch(() => undefined)));
  return { points, ...costLines(points), underruns };
}

// ── 5. 8 calls streaming both ways ────────────────────────────────────────────

interface Gaps {
  /** Longest gap in the tone each caller heard (10 ms blocks). */
  heardMs: number[];
  /** Longest gap in the caller's tone as the pipeline received it (10 ms blocks). */
  pipelineMs: number[];
  /** Longest wait between two caller frames reaching the host. */
  hostFrameMs: number[];
  eventLoop: { maxMs: number; p99Ms: number };
}

interface StreamResult {
  calls: number;
  codecs: string[];
  /** The steady part: from 2 s after the last call's media came up to just before the hang-ups. */
  steadyMs: number;
  underruns: number[];
  lostFrames: number[];
  /** Over the whole calls, set-up of the later calls included. */
  whole: Gaps;
  steady: Gaps;
  usage: Record<string, GroupUsage>;
  machine: Window["machine"];
  /**
   * Puppeteer enables the CDP Network domain on the page and on its media worker, so Chrome sends
   * the host a CDP event for every media WebSocket frame. Counted in the steady window, then the
   * same calls measured with the domain off on both sessions.
   */
  cdpOverhead?: { eventsPerS: number; kibPerS: number; on: Window; off: Window | undefined };
  /** ms after the first call was placed: placements, steady window, and where each call's longest heard gap started. */
  timeline: { placedAtMs: number[]; steadyFromMs: number; steadyToMs: number; heardGapAtMs: number[] };
}

async function benchStream(host: Host, profile: Profile, n: number): Promise<StreamResult> {
  const calls: LiveCall[] = [];
  const wholeLoop = loopMonitor();
  const origin = Date.now();
  const placedAtMs: number[] = [];
  for (let i = 0; i < n; i++) {
    placedAtMs.push(Date.now() - origin);
    calls.push(await placeCall(host, "tone:440", { kind: "stream", hz: 880, aheadMs: 1000, chunkMs: 500, detectHz: 440 }));
    await sleep(100);
  }
  await sleep(2000);
  const steadyFrom = Date.now();
  const wholeFrameGaps = calls.map((c) => c.playout.longestFrameGapMs);
  for (const c of calls) c.playout.longestFrameGapMs = 0;
  const steadyLoop = loopMonitor();
  await sleep(Math.min(3000, P.streamMs / 4));
  const cdp = P.cdpProfiles.includes(profile.name) ? countCdpFrameEvents(host) : undefined;
  const win = await measureWindow(host, Math.min(P.windowMs, P.streamMs / 2));
  const cdpEvents = cdp?.stop();
  progress(`stream ${profile.name}, ${n} calls: ${describeUsage(win)}`);
  await sleep(Math.max(0, P.streamMs - (Date.now() - steadyFrom)));
  const steadyTo = Date.now();
  // After the steady window: the same calls with the CDP Network domain off (a diagnostic; only
  // when Chrome does send the host an event per media frame).
  let cdpOverhead: StreamResult["cdpOverhead"];
  if (cdpEvents && cdpEvents.eventsPerS === 0) cdpOverhead = { ...cdpEvents, on: win, off: undefined };
  else if (cdpEvents) {
    await setCdpNetwork(host, false);
    const off = await measureWindow(host, P.cdpWindowMs);
    await setCdpNetwork(host, true);
    cdpOverhead = { ...cdpEvents, on: win, off };
    progress(`stream ${profile.name}: ${fmt(cdpEvents.eventsPerS)} CDP WebSocket-frame events/s; Network domain off: ${describeUsage(off)}`);
  }
  const steady: Gaps = { heardMs: [], pipelineMs: [], hostFrameMs: calls.map((c) => round(c.playout.longestFrameGapMs)), eventLoop: steadyLoop() };
  const whole: Gaps = { heardMs: [], pipelineMs: [], hostFrameMs: calls.map((c, i) => round(Math.max(wholeFrameGaps[i], c.playout.longestFrameGapMs))), eventLoop: wholeLoop() };
  await hangupAll(host, calls);
  const reports = await Promise.all(calls.map((c) => pipeline.report(c.from)));
  const result: StreamResult = {
    calls: n,
    codecs: [...new Set(calls.map((c) => c.codec ?? "?"))],
    steadyMs: steadyTo - steadyFrom,
    underruns: [],
    lostFrames: [],
    whole,
    steady,
    usage: win.usage,
    machine: win.machine,
    cdpOverhead,
    timeline: { placedAtMs, steadyFromMs: steadyFrom - origin, steadyToMs: steadyTo - origin, heardGapAtMs: [] },
  };
  const blockAt = (wallMs: number, zeroMs: number) => Math.round((wallMs - zeroMs) / 10);
  for (const [i, c] of calls.entries()) {
    result.underruns.push(host.calls.byTelephonySession(c.placed.telephonySessionId)?.streamStats?.underruns ?? NaN);
    const rec = await twin.recording(c.placed.callId);
    const heard = presence10ms(rec.samples, rec.rate, 880, -30);
    const w = longestGap(heard);
    whole.heardMs.push(w?.gapMs ?? NaN);
    result.timeline.heardGapAtMs.push(w && w.gapMs > 0 ? Math.round(rec.startedAtMs! + w.atMs - origin) : NaN);
    steady.heardMs.push(longestGap(heard, blockAt(steadyFrom, rec.startedAtMs!), blockAt(steadyTo, rec.startedAtMs!))?.gapMs ?? NaN);
    const rep: StreamReport = reports[i];
    const got = [...rep.callerPresence].map((x) => x === "1");
    whole.pipelineMs.push(longestGap(got)?.gapMs ?? NaN);
    steady.pipelineMs.push(longestGap(got, blockAt(steadyFrom, rep.firstMediaAtMs!), blockAt(steadyTo, rep.firstMediaAtMs!))?.gapMs ?? NaN);
    // The twin's call view analyses the whole recording (slow at 48 kHz): only asked when a gap needs explaining.
    const gapped = Math.max(whole.heardMs.at(-1)!, whole.pipelineMs.at(-1)!) > TARGET.gapMs;
    result.lostFrames.push(gapped ? ((await twin.call(c.placed.callId)).heard?.lostFrames ?? NaN) : NaN);
  }
  progress(`stream ${profile.name}: underruns ${result.underruns.join(",")}; heard gaps steady ${steady.heardMs.join(",")} ms, whole ${whole.heardMs.join(",")} ms`);
  return result;
}

interface CdpSession {
  on(event: string, handler: (e: unknown) => void): void;
  off(event: string, handler: (e: unknown) => void): void;
  send(method: string): Promise<unknown>;
}

/** The CDP sessions puppeteer holds for the host's page and its workers (the media worker among them). */
function cdpSessions(host: Host): CdpSession[] {
  const page = (host as unknown as { page: Page | undefined }).page;
  if (!page) return [];
  const pageSession = (page as unknown as { _client(): CdpSession })._client();
  return [pageSession, ...page.workers().map((w) => w.client as unknown as CdpSession)];
}

const FRAME_EVENTS = ["Network.webSocketFrameSent", "Network.webSocketFrameReceived"];

function countCdpFrameEvents(host: Host): { stop(): { eventsPerS: number; kibPerS: number } } {
  const sessions = cdpSessions(host);
  const started = Date.now();
  let events = 0;
  let bytes = 0;
  const handler = (e: unknown) => {
    events++;
    bytes += ((e as { response?: { payloadData?: string } }).response?.payloadData?.length ?? 0) + 150;
  };
  for (const s of sessions) for (const e of FRAME_EVENTS) s.on(e, handler);
  return {
    stop() {
      for (const s of sessions) for (const e of FRAME_EVENTS) s.off(e, handler);
      const seconds = (Date.now() - started) / 1000;
      return { eventsPerS: round(events / seconds), kibPerS: round(bytes / 1024 / seconds) };
    },
  };
}

async function setCdpNetwork(host: Host, enabled: boolean): Promise<void> {
  await Promise.all(cdpSessions(host).map((s) => s.send(enabled ? "Network.enable" : "Network.disable").catch(() => undefined)));
}

// ── 5c. does the underrun counter see a host stall? ──────────────────────────

interface StallResult {
  stallMs: number;
  stalls: number;
  /** Gaps over 60 ms the caller heard, ms. */
  gapsHeardMs: number[];
  underrunsCounted: number;
}

/** Blocks the host's event loop (this process) twice for 150 ms during a streaming call. */
async function benchStall(host: Host): Promise<StallResult> {
  const stallMs = 150;
  const stalls = 2;
  const call = await placeCall(host, "tone:440", { kind: "stream", hz: 880, aheadMs: 1000, chunkMs: 500, detectHz: 440 });
  await sleep(2500);
  for (let i = 0; i < stalls; i++) {
    const end = performance.now() + stallMs;
    while (performance.now() < end);
    await sleep(1500);
  }
  await hangupAll(host, [call]);
  await pipeline.report(call.from).catch(() => undefined);
  const rec = await twin.recording(call.placed.callId);
  const present = presence10ms(rec.samples, rec.rate, 880, -30);
  const first = present.indexOf(true);
  const last = present.lastIndexOf(true);
  const gaps: number[] = [];
  let run = 0;
  for (let i = first; i <= last; i++) {
    if (!present[i]) run++;
    else {
      if (run * 10 > TARGET.gapMs) gaps.push(run * 10);
      run = 0;
    }
  }
  const underruns = host.calls.byTelephonySession(call.placed.telephonySessionId)?.streamStats?.underruns ?? NaN;
  progress(`stall check: ${stalls} × ${stallMs} ms host stalls → gaps heard ${gaps.join(", ") || "none"} ms, underruns counted ${underruns}`);
  return { stallMs, stalls, gapsHeardMs: gaps, underrunsCounted: underruns };
}

// ── the table ─────────────────────────────────────────────────────────────────

interface ProfileResults {
  profile: string;
  stall?: StallResult;
  latency?: LatencyResult;
  clear?: ClearResult;
  cost?: CostResult;
  stream?: StreamResult;
}

const ok = (pass: boolean | undefined) => (pass === undefined ? "" : pass ? "✓" : "✗");
const pair = (s: Summary, digits = 0) => `${fmt(s.p50, digits)} / ${fmt(s.p95, digits)}`;

function table(launch: Awaited<ReturnType<typeof benchLaunch>> | undefined, profiles: ProfileResults[]): string {
  const rows: string[][] = [];
  const row = (what: string, result: string, target: string, pass?: boolean) => rows.push([what, result, target, ok(pass)]);
  if (launch) row(`1. Launch → registered, median / p95 (${launch.runsMs.length} runs: ${launch.runsMs.join(", ")})`, `${fmt(launch.summary.p50)} / ${fmt(launch.summary.p95)} ms`, "none set (docs: ≈ 1.2–1.4 s)");
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
      row(`2b. Caller → pipeline, p50 / p95 ${tag} (${b.summary.n} bursts${b.missed ? `, ${b.missed} missed` : ""})`, `${pair(b.summary)} ms`, `p95 ≤ ${TARGET.latencyP95Ms} ms`, b.summary.p95 <= TARGET.latencyP95Ms);
      row("    caller → host (RTP, Chrome jitter buffer, WebAudio, worklet, page link)", `${pair(b.callerToHost, 1)} ms`, "");
      if (l.jitterBuffer.length) row("    of which Chrome's jitter buffer (WebRTC stats, per call: average delay)", `${l.jitterBuffer.map((j) => fmt(j.avgDelayMs, 1)).join(", ")} ms`, "");
      row("    host → pipeline (encode, WebSocket)", `${pair(b.hostToPipeline, 1)} ms`, "");
      row("    of which 20 ms framing (rest of the frame after the onset)", `${pair(b.framingMs, 1)} ms`, "");
    }
    const c = p.clear;
    if (c) {
      row(`3. clear → silence at the caller, p50 / p95 ${tag} (${c.summary.n} reps)`, `${pair(c.summary)} ms`, `≤ ${TARGET.clearMs} ms`, c.summary.p95 <= TARGET.clearMs);
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
      if (k.firstCall) row(`    first call (0 → 1): chrome + host CPU; USS`, `${fmt(k.firstCall.chromeCpuPct + k.firstCall.hostCpuPct, 1)} %; ${fmt(k.firstCall.chromeMb + k.firstCall.hostMb, 1)} MB`, "");
    }
    const s = p.stream;
    if (s) {
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
      if (p.stall) row(`5c. Underrun counter vs ${p.stall.stalls} host event-loop stalls of ${p.stall.stallMs} ms: gaps the caller heard / underruns counted`, `${p.stall.gapsHeardMs.join(", ") || "none"} ms / ${p.stall.underrunsCounted}`, "each gap counted", p.stall.underrunsCounted >= p.stall.gapsHeardMs.length);
    }
  }
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => [...r[i]].length), ["Measurement", "Result", "Target", "OK"][i].length));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c + " ".repeat(widths[i] - [...c].length)).join(" | ")} |`;
  return [line(["Measurement", "Result", "Target", "OK"]), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** What was measured: the commit, and the files changed on top of it (the working tree may be ahead). */
function gitState(): { commit: string; dirty: string[] } {
  const git = (...args: string[]) => {
    try {
      return execFileSync("git", args, { cwd: ROOT, stdio: ["ignore", "pipe", "ignore"] }).toString().trimEnd();
    } catch {
      return "";
    }
  };
  return { commit: git("rev-parse", "--short", "HEAD") || "unknown", dirty: git("status", "--porcelain", "--untracked-files=no").split("\n").filter(Boolean).map((l) => l.slice(3)) };
}

// ── main ──────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const git = gitState();
  progress(`commit ${git.commit}${git.dirty.length ? ` + uncommitted changes in ${git.dirty.join(", ")}` : ""}`);
  progress(`${QUICK ? "quick" : "full"} run on ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 2 ** 30)} GB`);
  sampler = new ProcSampler();
  twin = await TwinProcess.start(TWIN_LOG);
  pipeline = await PipelineProcess.start();
  progress(`twin pid ${twin.pid}, pipeline pid ${pipeline.pid} (clock skew ${pipeline.clockSkewMs.toFixed(2)} ms)`);
  installProbes();
  const quiet = await measureWindow(undefined, 2000);
  progress(`other processes on this machine before starting: ${fmt(quiet.machine.othersPct, 1)} % of a core`);
  if (quiet.machine.othersPct > BUSY_PCT / 2) progress("warning: this machine is busy with other work; the numbers will be worse than on a quiet machine");

  const launch = runs("launch") ? await benchLaunch() : undefined;
  const profiles: ProfileResults[] = [];
  for (const profile of PROFILES.filter((p) => !PROFILE_FILTER || PROFILE_FILTER.includes(p.name))) {
    const { host, cache } = newHost(profile);
    await host.start();
    await sleep(1000);
    const r: ProfileResults = { profile: profile.name };
    profiles.push(r);
    try {
      const full = profile.name === "mulaw" || P.opusLatency;
      if (full && runs("latency")) r.latency = await benchLatency(host, profile);
      if (full && runs("clear")) r.clear = await benchClear(host, profile);
      if (runs("cost")) r.cost = await benchCost(host, profile, profile.name === "mulaw" ? P.costLevels : P.opusCostLevels);
      if (runs("stream")) {
        await sleep(1000);
        r.stream = await benchStream(host, profile, 8);
        // The 8-call window extends the cost line for a profile without the full sweep.
        if (P.stallCheck && profile.name === "mulaw") r.stall = await benchStall(host);
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
  }

  const gitAfter = gitState();
  if (JSON.stringify(gitAfter) !== JSON.stringify(git)) progress(`warning: the working tree changed during the run (now commit ${gitAfter.commit}, changes in ${gitAfter.dirty.join(", ") || "nothing"}); later phases may have measured other code`);
  const out = table(launch, profiles);
  const busy = summarize(background);
  const warnings = existsSync(HOST_LOG) ? readFileSync(HOST_LOG, "utf8").split("\n").filter(Boolean) : [];
  console.log(`\nrc-voice-host bench (${QUICK ? "quick" : "full"}), ${new Date().toISOString()}, commit ${git.commit}${git.dirty.length ? ` + changes in ${git.dirty.join(", ")}` : ""}, ${cpus().length} cores, ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  console.log(out);
  console.log(`\nother processes' CPU during the ${busy.n} measurement windows (not ours; ${cpus().length} cores = ${cpus().length * 100} %): median ${fmt(busy.p50, 1)} %, max ${fmt(busy.max, 1)} %${busy.max > BUSY_PCT ? "  ← the machine was not quiet: expect worse numbers" : ""}`);
  console.log(`\nhost log: ${warnings.length} warning/error line(s) in ${HOST_LOG}`);
  const file = join(RESULTS_DIR, `${STAMP}${QUICK ? "-quick" : ""}.json`);
  writeFileSync(
    file,
    JSON.stringify({ quick: QUICK, at: new Date().toISOString(), git, machine: { cores: cpus().length, cpu: cpus()[0]?.model, memGb: round(totalmem() / 2 ** 30) }, targets: TARGET, params: P, launch, profiles, backgroundCpuPct: background.map((x) => round(x, 1)), hostLogLines: warnings.length, table: out }, null, 2),
  );
  console.log(`results: ${file}`);
}

const stopAll = async () => {
  await pipeline?.stop().catch(() => {});
  await twin?.stop().catch(() => {});
  await sampler?.close().catch(() => {});
};

main()
  .catch((err: Error) => console.error(`bench failed: ${err.stack ?? err.message}`))
  .finally(async () => {
    await stopAll();
    // A benchmark reports; it never fails the build.
    process.exit(0);
  });

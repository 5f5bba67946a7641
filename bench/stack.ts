/**
 * What every phase runs on: the twin, the test pipeline and the /proc sampler (each its own
 * process), hosts made against them, calls placed through them, and CPU/memory windows.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import pino from "pino";
import type { CallStream } from "../bridge/stream.ts";
import { loadConfig } from "../host/config.ts";
import { Host } from "../host/host.ts";
import { createLogger } from "../host/log.ts";
import { PipelineProcess } from "./pipeline-proc.ts";
import type { Plan } from "./pipeline.ts";
import { probes, type PlayoutTrace } from "./probes.ts";
import { ProcSampler, machine, usage, type GroupSpec, type GroupUsage } from "./procstat.ts";
import { fmt, round } from "./stats.ts";
import { TwinProcess, type Placed } from "./twin-proc.ts";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const t0 = Date.now();
/** Seconds since the bench started. */
export const elapsedS = () => (Date.now() - t0) / 1000;
export const progress = (msg: string) => process.stderr.write(`[bench ${elapsedS().toFixed(0).padStart(3)} s] ${msg}\n`);

export async function until<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

export interface Profile {
  name: "mulaw" | "l16-16000";
  env: Record<string, string>;
  rate: number;
}

export const PROFILES: Profile[] = [
  { name: "mulaw", env: { PIPELINE_AUDIO: "mulaw" }, rate: 8000 },
  { name: "l16-16000", env: { PIPELINE_AUDIO: "l16-16000" }, rate: 16000 },
];

export interface LiveCall {
  from: string;
  placed: Placed;
  playout: PlayoutTrace;
  /** The call's playout and pipeline session, as the probes see them. */
  targets: CallStream["probeTargets"];
  codec: string | undefined;
}

export interface Window {
  usage: Record<string, GroupUsage>;
  /** The whole machine: total CPU, and what other processes (not ours) used meanwhile. */
  machine: { totalPct: number; othersPct: number };
}

export function describeUsage(w: Window): string {
  const u = w.usage;
  return `chrome ${fmt(u.chrome.cpuPct, 1)} % ${fmt(u.chrome.ussMb)} MB, host ${fmt(u.host.cpuPct, 1)} % ${fmt(u.host.ussMb)} MB, twin ${fmt(u.twin.cpuPct, 1)} %, pipeline ${fmt(u.pipeline.cpuPct, 1)} %; other processes ${fmt(w.machine.othersPct, 1)} %`;
}

/** The host process's event-loop delay over a phase (max and p99, ms): stalls delay every call's media. */
export function loopMonitor(): () => { maxMs: number; p99Ms: number } {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  return () => {
    h.disable();
    return { maxMs: round(h.max / 1e6, 1), p99Ms: round(h.percentile(99) / 1e6, 1) };
  };
}

export class Stack {
  /** Other processes' CPU in every window: a benchmark on a shared machine says when it was not alone. */
  readonly background: number[] = [];
  private hostSeq = 0;
  private callSeq = 0;

  private constructor(
    readonly twin: TwinProcess,
    readonly pipeline: PipelineProcess,
    readonly sampler: ProcSampler,
    private readonly hostLog: string,
  ) {}

  /** Starts the sampler, the twin and the pipeline; stops what did start if one fails. */
  static async start(logs: { host: string; twin: string }): Promise<Stack> {
    const sampler = new ProcSampler();
    let twin: TwinProcess | undefined;
    try {
      twin = await TwinProcess.start(logs.twin);
      const pipeline = await PipelineProcess.start();
      return new Stack(twin, pipeline, sampler, logs.host);
    } catch (err) {
      await twin?.stop().catch(() => {});
      await sampler.close().catch(() => {});
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.pipeline.stop().catch(() => {});
    await this.twin.stop().catch(() => {});
    await this.sampler.close().catch(() => {});
  }

  /** A host against the twin and the pipeline, with its own SIP_INFO_CACHE (removed by the caller). */
  newHost(profile: Profile, env: Record<string, string> = {}): { host: Host; cache: string } {
    const cache = `/tmp/rc-voice-host-bench-${process.pid}-${++this.hostSeq}.json`;
    const info = this.twin.info;
    const config = loadConfig({
      RINGCENTRAL_SERVER_URL: info.restUrl,
      RINGCENTRAL_CLIENT_ID: info.clientId,
      RINGCENTRAL_CLIENT_SECRET: info.clientSecret,
      RINGCENTRAL_JWT_TOKEN: info.jwt,
      RINGCENTRAL_SIP_INSECURE_TLS: "true",
      PIPELINE_URL: this.pipeline.url,
      SIP_INFO_CACHE: cache,
      ...profile.env,
      ...env,
    });
    const log = createLogger((process.env.BENCH_HOST_LOG_LEVEL as "warn" | undefined) ?? "warn", { destination: pino.destination({ dest: this.hostLog, sync: true, append: true }) });
    return { host: new Host(config, log), cache };
  }

  /** Plans the pipeline's side, has the twin's caller ring, and waits until the host's media is up. */
  async placeCall(host: Host, play: string, plan: Plan): Promise<LiveCall> {
    const from = `+1555${String(7_000_000 + ++this.callSeq)}`;
    this.pipeline.plan(from, plan);
    const placed = await this.twin.placeCall({ from, play });
    const call = await until(() => {
      const c = host.calls.byTelephonySession(placed.telephonySessionId);
      return c?.mediaConnectedAtMs && c.stream ? c : undefined;
    }, `media of ${placed.callId}`, 30_000);
    const targets = call.stream!.probeTargets;
    // Caller frames flow from the answer on, so the always-on probe has seen this playout by now.
    const playout = await until(() => probes.playouts.get(targets.playout), "a caller frame at the host");
    return { from, placed, playout, targets, codec: call.codec };
  }

  async hangupAll(host: Host, calls: LiveCall[]): Promise<void> {
    await Promise.all(calls.map((c) => this.twin.hangup(c.placed.callId)));
    await until(() => calls.every((c) => host.calls.byTelephonySession(c.placed.telephonySessionId)?.state === "ended"), "the host to end the calls");
  }

  /** CPU over `ms` and memory at its end, per process group (the host's groups, or only ours before a host runs). */
  async measureWindow(host: Host | undefined, ms: number): Promise<Window> {
    const spec = host ? this.groups(host) : { host: { pid: process.pid, tree: false }, twin: { pid: this.twin.pid, tree: true }, pipeline: { pid: this.pipeline.pid, tree: true } };
    const a = await this.sampler.sample(spec);
    await sleep(ms);
    const b = await this.sampler.sample(spec);
    const u = usage(a, b);
    const w = { usage: u, machine: machine(a, b, u) };
    this.background.push(w.machine.othersPct);
    return w;
  }

  private groups(host: Host): Record<string, GroupSpec> {
    return {
      chrome: { pid: host.browserProcess()!.pid!, tree: true, threads: true },
      host: { pid: process.pid, tree: false, threads: true },
      twin: { pid: this.twin.pid, tree: true },
      pipeline: { pid: this.pipeline.pid, tree: true },
      sampler: { pid: this.sampler.pid, tree: false },
    };
  }
}

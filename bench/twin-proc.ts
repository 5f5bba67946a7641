import { spawn, type ChildProcess } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { decodeWav } from "./audio.ts";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));

export interface TwinInfo {
  restUrl: string;
  sipWssUrl: string;
  clientId: string;
  clientSecret: string;
  jwt: string;
  controlUrl: string;
}

export interface TwinCall {
  id: string;
  state: "ringing" | "answered" | "ended";
  endReason: string | null;
  codec: string | null;
  telephonySessionId: string;
  answeredAtMs: number | null;
  endedAtMs: number | null;
  caller: { framesSent: number; connectedAtMs: number | null };
  heard: { startedAtMs: number | null; frames: number; lostFrames: number; longestArrivalGapMs: number; dominantHz: number | null; levelDbfs: number | null } | null;
}

export interface Placed {
  callId: string;
  telephonySessionId: string;
  partyId: string;
}

/**
 * The twin in its own process (`twin/cli.ts`), so its werift peers and Opus codecs run outside
 * the host's process and can be measured on their own. Driven through its control API.
 */
export class TwinProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly info: TwinInfo,
  ) {}

  static async start(logPath: string): Promise<TwinProcess> {
    const log = openSync(logPath, "a");
    const child = spawn(process.execPath, ["--import", "tsx", "--import", "./bench/twin-probe.ts", "twin/cli.ts", "--http-port", "0", "--sip-port", "0", "--log-level", process.env.BENCH_TWIN_LOG_LEVEL ?? "warn"], {
      cwd: ROOT,
      env: { ...process.env, TWIN_HTTP_PORT: "", TWIN_SIP_PORT: "", TWIN_LOG_LEVEL: "" },
      stdio: ["ignore", "pipe", log],
    });
    closeSync(log);
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error("the twin printed nothing within 30 s")), 30_000);
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const nl = out.indexOf("\n");
        if (nl >= 0) {
          clearTimeout(timer);
          resolve(out.slice(0, nl));
        }
      });
      child.once("exit", (code) => reject(new Error(`the twin exited ${code} before serving (see ${logPath})`)));
    });
    return new TwinProcess(child, JSON.parse(line) as TwinInfo);
  }

  get pid(): number {
    return this.child.pid!;
  }

  private async req(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`${this.info.controlUrl}${path}`, init);
  }

  async placeCall(body: { from: string; play: string; codecs?: Array<"opus" | "PCMU">; hangupAfterMs?: number }): Promise<Placed> {
    const res = await this.req("/calls", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    if (res.status !== 201) throw new Error(`twin refused the call: ${res.status} ${await res.text()}`);
    return (await res.json()) as Placed;
  }

  /** How the twin's far end behaves when the host dials `number` (outbound calls). */
  async setCallee(number: string, behaviour: { play: string; hangupAfterMs?: number; codecs?: Array<"opus" | "PCMU"> }): Promise<void> {
    const res = await this.req(`/callees/${encodeURIComponent(number)}`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(behaviour) });
    if (res.status !== 200) throw new Error(`twin refused the callee: ${res.status} ${await res.text()}`);
  }

  /** One call in full: costly in the twin (it analyses the whole recording), so not while measuring. */
  async call(id: string): Promise<TwinCall> {
    return (await (await this.req(`/calls/${id}`)).json()) as TwinCall;
  }

  /** States of all calls: cheap. */
  async states(): Promise<Map<string, string>> {
    const body = (await (await this.req("/calls")).json()) as { records: Array<{ id: string; state: string }> };
    return new Map(body.records.map((r) => [r.id, r.state]));
  }

  async recording(id: string): Promise<ReturnType<typeof decodeWav>> {
    const res = await this.req(`/calls/${id}/recording.wav`);
    if (res.status !== 200) throw new Error(`no recording for ${id}: ${res.status}`);
    return decodeWav(Buffer.from(await res.arrayBuffer()));
  }

  /** Arms one of the twin's faults (docs/twin.md, "Faults"). */
  async fault(path: string, body: unknown): Promise<void> {
    const res = await this.req(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`twin refused the fault ${path}: ${res.status} ${await res.text()}`);
  }

  /** The caller's RTP link and its counts (lost, reordered). */
  async link(id: string): Promise<{ packetsLost: number; packetsReordered: number }> {
    const res = await this.req(`/calls/${id}/media/link`);
    if (!res.ok) throw new Error(`no media link for ${id}: ${res.status}`);
    return (await res.json()) as { packetsLost: number; packetsReordered: number };
  }

  async hangup(id: string): Promise<void> {
    await this.req(`/calls/${id}`, { method: "DELETE" });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 6000))]);
  }
}

/**
 * Host processes for the multi-host e2e tests: each `host/cli.ts` with its own HTTP port and
 * sipInfo cache, its log kept (printed when a test fails), and a SIGKILL that takes Chrome with
 * it (Puppeteer starts Chrome in a process group of its own, which a SIGKILL of the host orphans).
 */
import { execFileSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createServer } from "node:net";
import { spawnHostCli } from "./host-cli.ts";

/** The processes `pid` started (Chrome, esbuild's service): found before a kill orphans them. */
export function childrenOf(pid: number): number[] {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" }).split("\n").map(Number).filter((n) => n > 0);
  } catch {
    return []; // ps exits 1 when there are none
  }
}

/** SIGKILL a process we started, and its process group when it leads one. */
export function killTree(pid: number): void {
  try {
    const pgid = Number(execFileSync("ps", ["-o", "pgid=", "-p", String(pid)], { encoding: "utf8" }).trim());
    process.kill(pgid === pid ? -pid : pid, "SIGKILL");
  } catch {
    // already gone
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export class HostProc {
  readonly log: string[] = [];
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly exited: Promise<void>;
  private orphans: number[] = [];

  private constructor(
    readonly hostId: string,
    readonly port: number,
    private readonly apiToken: string,
    env: Record<string, string>,
  ) {
    this.child = spawnHostCli({ ...env, HOST_ID: hostId, HTTP_HOST: "127.0.0.1", HTTP_PORT: String(port), API_TOKEN: apiToken }, `cluster-${hostId}`);
    const keep = (d: Buffer) => {
      for (const line of d.toString().split("\n")) if (line) this.log.push(line.slice(0, 600));
      if (this.log.length > 400) this.log.splice(0, this.log.length - 400);
    };
    this.child.stdout.on("data", keep);
    this.child.stderr.on("data", keep);
    this.exited = new Promise((r) => this.child.once("exit", () => r()));
  }

  static async spawn(hostId: string, apiToken: string, env: Record<string, string>): Promise<HostProc> {
    return new HostProc(hostId, await freePort(), apiToken, env);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async ready(): Promise<{ status: number; body: { ready: boolean; cluster?: { ready: boolean; reason: string | null } } } | undefined> {
    try {
      const res = await fetch(`${this.url}/ready`, { signal: AbortSignal.timeout(2000) });
      return { status: res.status, body: (await res.json()) as { ready: boolean; cluster?: { ready: boolean; reason: string | null } } };
    } catch {
      return undefined;
    }
  }

  async api(path: string, method = "GET"): Promise<{ status: number; body: Record<string, unknown> & { records?: Array<Record<string, unknown>> } }> {
    const res = await fetch(`${this.url}${path}`, { method, headers: { authorization: `Bearer ${this.apiToken}` }, signal: AbortSignal.timeout(15_000) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { records?: Array<Record<string, unknown>> } };
  }

  /** As a crashed pod: no cleanup. Chrome goes too (as it would with its container). */
  async kill(): Promise<void> {
    if (!this.alive) return;
    this.orphans.push(...childrenOf(this.child.pid!));
    this.child.kill("SIGKILL");
    await this.exited;
    for (const pid of this.orphans) killTree(pid);
  }

  /** A clean stop (SIGTERM: the host hangs up, unregisters, leaves the cluster); SIGKILL after 20 s. */
  async stop(): Promise<void> {
    if (this.alive) {
      this.orphans.push(...childrenOf(this.child.pid!));
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 20_000);
      await this.exited;
      clearTimeout(timer);
    }
    for (const pid of this.orphans) killTree(pid);
  }
}

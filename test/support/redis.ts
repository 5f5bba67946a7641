/**
 * A real Redis for the cluster tests: Debian's `redis-server` on a free loopback port, with no
 * persistence, started fresh per test file. `kill()` takes it away as a crash would (SIGKILL),
 * `restart()` brings it back on the same port, empty.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, connect } from "node:net";
import { until } from "./until.ts";

export const REDIS_SERVER = process.env.REDIS_SERVER ?? "redis-server";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** One PING over a raw socket: true once the server answers +PONG. */
function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (d) => done(d.toString().startsWith("+PONG")));
  });
}

export class TestRedis {
  private proc: ChildProcess | undefined;
  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<TestRedis> {
    const r = new TestRedis(await freePort());
    await r.spawn();
    return r;
  }

  private async spawn(): Promise<void> {
    const proc = spawn(REDIS_SERVER, ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes"], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    proc.stderr?.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
    this.proc = proc;
    await Promise.race([
      until(() => pong(this.port), `redis-server to answer PING on ${this.port}`, 10_000),
      exited.then((code) => {
        throw new Error(`redis-server exited (${code}) before answering: ${stderr.slice(0, 500)}`);
      }),
    ]);
  }

  /** As a crash: no goodbye to its clients. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGKILL");
    await exited;
    this.proc = undefined;
  }

  /** Back on the same port, empty (no persistence), as a Redis restarted without its data. */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  async stop(): Promise<void> {
    await this.kill();
  }
}

import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Plan, StreamReport } from "./pipeline.ts";
import { ROOT } from "./twin-proc.ts";

/** The parent's handle on bench/pipeline.ts running in its own process. */
export class PipelineProcess {
  private readonly reports = new Map<string, StreamReport>();
  private readonly reportWaiters = new Map<string, (r: StreamReport) => void>();
  private readonly started = new Map<string, number>();

  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    /** This process's wall clock minus Date.now(), in the child (sanity check: ≈ 0). */
    readonly clockSkewMs: number,
  ) {
    child.on("message", (m: { type: string; report?: StreamReport; from?: string; atMs?: number }) => {
      if (m.type === "report" && m.report) {
        // The stream is over: nothing asks whether it started any more (the soak places thousands).
        this.started.delete(m.report.from);
        const w = this.reportWaiters.get(m.report.from);
        if (w) {
          this.reportWaiters.delete(m.report.from);
          w(m.report);
        } else this.reports.set(m.report.from, m.report);
      } else if (m.type === "started" && m.from) this.started.set(m.from, m.atMs!);
    });
  }

  static async start(): Promise<PipelineProcess> {
    const child = fork(fileURLToPath(new URL("./pipeline.ts", import.meta.url)), [], { cwd: ROOT, execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const ready = await new Promise<{ url: string; clockSkewMs: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the bench pipeline did not start within 20 s")), 20_000);
      child.once("message", (m: { type: string; url: string; clockSkewMs: number }) => {
        clearTimeout(timer);
        resolve(m);
      });
      child.once("exit", (code) => reject(new Error(`the bench pipeline exited ${code}`)));
    });
    return new PipelineProcess(child, ready.url, ready.clockSkewMs);
  }

  get pid(): number {
    return this.child.pid!;
  }

  plan(from: string, plan: Plan): void {
    this.child.send({ type: "plan", from, plan });
  }

  hasStarted(from: string): boolean {
    return this.started.has(from);
  }

  /** The stream's report, sent when its WebSocket closes. */
  report(from: string, timeoutMs = 15_000): Promise<StreamReport> {
    const r = this.reports.get(from);
    if (r) {
      this.reports.delete(from);
      return Promise.resolve(r);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reportWaiters.delete(from);
        reject(new Error(`no pipeline report for ${from} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.reportWaiters.set(from, (rep) => {
        clearTimeout(timer);
        resolve(rep);
      });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.send({ type: "stop" });
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}

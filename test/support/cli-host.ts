/**
 * `npm start`'s entry (host/cli.ts) as a process of its own against a twin: its HTTP address read
 * from its log, its log lines kept, its exit awaited, and, if a test fails, it and the Chrome it
 * started SIGKILLed (Puppeteer starts Chrome in a process group of its own).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Twin } from "../../twin/server.ts";
import { spawnHostCli } from "./host-cli.ts";
import { twinEnv } from "./stack.ts";
import { until } from "./until.ts";

function childrenOf(pid: number): number[] {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" }).split("\n").map(Number).filter((n) => n > 0);
  } catch {
    return []; // ps exits 1 when there are none
  }
}

/** Only what is still this test's Chrome (or esbuild): a pid reused since is left alone. */
function killTree(pid: number): void {
  try {
    if (!/chrom|esbuild/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8"))) return;
    const pgid = Number(execFileSync("ps", ["-o", "pgid=", "-p", String(pid)], { encoding: "utf8" }).trim());
    process.kill(pgid === pid ? -pid : pid, "SIGKILL");
  } catch {
    // already gone
  }
}

export type CliHost = Awaited<ReturnType<typeof startCliHost>>;

export async function startCliHost(twin: Twin, env: Record<string, string>, name: string) {
  const child = spawnHostCli({ ...twinEnv(twin), HTTP_PORT: "0", ...env }, name);
  let stdout = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.resume();
  const exited = new Promise<{ code: number | null; atMs: number }>((r) => child.on("exit", (code) => r({ code, atMs: Date.now() })));
  const port = await until(() => /"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(stdout)?.[1] ?? (child.exitCode !== null ? "exited" : undefined), `${name} to listen`, 30_000);
  if (port === "exited") throw new Error(`${name} exited at start: ${stdout.slice(-2000)}`);
  const httpUrl = `http://127.0.0.1:${port}`;
  const orphans = new Set<number>();
  return {
    name,
    child,
    httpUrl,
    exited,
    /** The host's log, one parsed pino line each. */
    lines: () => stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown> & { msg: string }),
    ready: async () => {
      const res = await fetch(`${httpUrl}/ready`);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> & { reason: string | null; draining: Record<string, unknown> | null; cluster: { hostId: string | null } } };
    },
    signal: (s: NodeJS.Signals) => {
      for (const pid of childrenOf(child.pid!)) orphans.add(pid);
      child.kill(s);
    },
    /** After the test: nothing of it left running. */
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        for (const pid of childrenOf(child.pid!)) orphans.add(pid);
        child.kill("SIGKILL");
        await exited;
      }
      for (const pid of orphans) killTree(pid);
    },
  };
}

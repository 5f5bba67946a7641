/** 6. `npm run demo` as a newcomer runs it: its own twin, host, Chrome and echo pipeline; the echo round trip it prints. */
import { spawn } from "node:child_process";
import type { Params } from "../params.ts";
import { progress } from "../stack.ts";
import { summarize, type Summary } from "../stats.ts";
import { ROOT } from "../twin-proc.ts";

export interface DemoResult {
  /** Caller → host → pipeline → host → caller, beep onset, per run. */
  roundTripMs: number[];
  registeredMs: number[];
  failed: number;
  summary: Summary | undefined;
}

function runDemo(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    // Only the variables a fresh checkout has: a .env or the bench's own settings must not change the demo.
    const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...(process.env.CHROME_PATH ? { CHROME_PATH: process.env.CHROME_PATH } : {}) };
    const child = spawn(process.execPath, ["--import", "tsx", "host/demo.ts"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, out }));
  });
}

export async function benchDemo(P: Params): Promise<DemoResult> {
  const roundTripMs: number[] = [];
  const registeredMs: number[] = [];
  let failed = 0;
  for (let i = 0; i < P.demoRuns; i++) {
    const { code, out } = await runDemo();
    const rt = /echo round trip:\s+(\d+) ms/.exec(out);
    const reg = /registered in (\d+) ms/.exec(out);
    if (code !== 0 || !rt) {
      failed++;
      progress(`demo run ${i + 1}: exit ${code}${rt ? "" : ", no round trip printed"}`);
      continue;
    }
    roundTripMs.push(Number(rt[1]));
    if (reg) registeredMs.push(Number(reg[1]));
    progress(`demo run ${i + 1}: round trip ${rt[1]} ms${reg ? `, registered in ${reg[1]} ms` : ""}`);
  }
  return { roundTripMs, registeredMs, failed, summary: roundTripMs.length ? summarize(roundTripMs) : undefined };
}

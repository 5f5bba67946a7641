import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));

function runDemo(command: string, args: string[], extraEnv: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv };
    delete env.PIPELINE_URL;
    const child = spawn(command, args, { cwd: root, env });
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.resume();
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stdout }));
  });
}

function expectAudioBothWays(out: { code: number | null; stdout: string }) {
  expect(out.code, out.stdout).toBe(0);
  expect(out.stdout).toMatch(/answered:\s+yes/);
  const toPipeline = Number(out.stdout.match(/caller → pipeline:\s+(\d+) frames/)?.[1]);
  const heard = Number(out.stdout.match(/(\d+) RTP packets heard by the caller/)?.[1]);
  expect(toPipeline).toBeGreaterThan(50);
  expect(heard).toBeGreaterThan(50);
  const latency = Number(out.stdout.match(/echo round trip:\s+(\d+) ms/)?.[1]);
  expect(latency).toBeGreaterThan(0);
  const recording = out.stdout.match(/caller's recording:\s+(\S+)/)?.[1];
  expect(recording && existsSync(recording)).toBe(true);
}

describe("npm run demo", () => {
  it("runs twin + host + echo pipeline and reports audio both ways", async () => {
    expectAudioBothWays(await runDemo(process.execPath, ["--import", "tsx", "host/demo.ts"]));
  });

  it("--agent=openai: the connector greets, stops when the caller talks over it, truncates to what was heard, hangs up with its tool", async () => {
    const out = await runDemo(process.execPath, ["--import", "tsx", "host/demo.ts", "--agent=openai"], { OPENAI_API_KEY: "sk-from-the-environment-never-used" });
    expect(out.code, out.stdout).toBe(0);
    expect(out.stdout).toMatch(/answered:\s+yes \(codec PCMU\)/);
    const heard = Number(out.stdout.match(/greeting heard:\s+(\d+) ms of 4000 ms/)?.[1]);
    expect(heard).toBeGreaterThan(300);
    expect(heard).toBeLessThan(3700);
    const truncated = Number(out.stdout.match(/truncate:\s+audio_end_ms (\d+)/)?.[1]);
    expect(Math.abs(truncated - heard)).toBeLessThanOrEqual(30);
    expect(out.stdout).toMatch(/barge-in:\s+\d+ ms from speech_started/);
    expect(out.stdout).toMatch(/hang_up tool:\s+the agent ended the call/);
    expect(out.stdout).not.toContain("sk-");
  });

  it("an unknown --agent is a clear error", async () => {
    const out = await runDemo(process.execPath, ["--import", "tsx", "host/demo.ts", "--agent=claude"]);
    expect(out.code).toBe(2);
    expect(out.stdout).toMatch(/--agent=claude is not known: use --agent=echo \(the default\) or --agent=openai/);
  });

  // Headful Chrome (HEADLESS=false) in a virtual X display, as in the debug image. CI installs xvfb.
  it("headful under Xvfb: answers and carries audio both ways", async () => {
    const out = await runDemo("xvfb-run", ["-a", process.execPath, "--import", "tsx", "host/demo.ts"], { HEADLESS: "false" });
    expect(out.stdout).toMatch(/Chrome headful is up/);
    expectAudioBothWays(out);
  });
});

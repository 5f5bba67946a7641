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

  // Headful Chrome (HEADLESS=false) in a virtual X display, as in the debug image. CI installs xvfb.
  it("headful under Xvfb: answers and carries audio both ways", async () => {
    const out = await runDemo("xvfb-run", ["-a", process.execPath, "--import", "tsx", "host/demo.ts"], { HEADLESS: "false" });
    expect(out.stdout).toMatch(/Chrome headful is up/);
    expectAudioBothWays(out);
  });
});

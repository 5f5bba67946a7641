import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));

describe("npm run demo", () => {
  it("runs twin + host + echo pipeline and reports audio both ways", async () => {
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const env = { ...process.env };
      delete env.PIPELINE_URL;
      const child = spawn(process.execPath, ["--import", "tsx", "host/demo.ts"], { cwd: root, env });
      let stdout = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.resume();
      child.on("exit", (code) => resolve({ code, stdout }));
    });
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/answered:\s+yes/);
    const toPipeline = Number(out.stdout.match(/caller → pipeline:\s+(\d+) frames/)?.[1]);
    const heard = Number(out.stdout.match(/(\d+) RTP packets heard by the caller/)?.[1]);
    expect(toPipeline).toBeGreaterThan(50);
    expect(heard).toBeGreaterThan(50);
    const latency = Number(out.stdout.match(/echo round trip:\s+(\d+) ms/)?.[1]);
    expect(latency).toBeGreaterThan(0);
    const recording = out.stdout.match(/caller's recording:\s+(\S+)/)?.[1];
    expect(recording && existsSync(recording)).toBe(true);
  });
});

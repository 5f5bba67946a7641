import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import wavefile from "wavefile";
import { describe, expect, it } from "vitest";
import { dominantHz } from "../twin/caller/analysis.ts";
import { startTwin } from "../twin/server.ts";
import { spawnHostCli } from "./support/host-cli.ts";
import { twinEnv, until } from "./support/stack.ts";
import { startTestPipeline } from "./support/twilio-pipeline.ts";

/** The processes `pid` started (Chrome, esbuild's service): found before the kill orphans them. */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" }).split("\n").map(Number).filter((n) => n > 0);
  } catch {
    return []; // ps exits 1 when there are none
  }
}

/** SIGKILL a process we started, and its process group when it leads one (Puppeteer starts Chrome detached). */
function killTree(pid: number): void {
  try {
    const pgid = Number(execFileSync("ps", ["-o", "pgid=", "-p", String(pid)], { encoding: "utf8" }).trim());
    process.kill(pgid === pid ? -pid : pid, "SIGKILL");
  } catch {
    // already gone
  }
}

describe("recordings survive the host", () => {
  it("SIGKILL mid-call: the WAV is readable and misses at most the last second", async () => {
    const twin = await startTwin({ log: pino({ level: "silent" }) });
    const pipeline = await startTestPipeline();
    const dir = await mkdtemp(join(tmpdir(), "rec-crash-"));
    const child = spawnHostCli({ ...twinEnv(twin), PIPELINE_URL: pipeline.url, HTTP_PORT: "0", RECORDINGS_DIR: dir }, "rec-crash");
    child.stdout.resume();
    child.stderr.resume();
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on("exit", (_code, signal) => r(signal)));
    const orphans: number[] = [];
    try {
      const registrations = async () => (await (await fetch(`${twin.controlUrl}/registrations`)).json()).records.length as number;
      await until(async () => (await registrations()) === 1, "the host to register", 60_000);
      const res = await fetch(`${twin.controlUrl}/calls`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ from: "+15550008100", play: "tone:440" }) });
      const placed = (await res.json()) as { telephonySessionId: string };
      const stream = await until(() => pipeline.streams.find((s) => s.start?.callSid === placed.telephonySessionId), "the pipeline's stream", 20_000);
      // Kill just before the recorder's fifth write: close to the worst moment.
      await until(() => stream.audio.length >= 4.9 * 8000, "4.9 s of call audio", 20_000);
      const audioAtKillS = stream.audio.length / 8000;
      orphans.push(...childrenOf(child.pid!));
      child.kill("SIGKILL");
      expect(await exited).toBe("SIGKILL");

      const files = await readdir(dir);
      expect(files).toHaveLength(1);
      const wav = new wavefile.WaveFile(await readFile(join(dir, files[0])));
      expect((wav.fmt as { numChannels: number }).numChannels).toBe(2);
      wav.toBitDepth("32f");
      const [left] = wav.getSamples(false, Float32Array) as unknown as Float32Array[];
      const recordedS = left.length / 8000;
      const lossS = audioAtKillS - recordedS;
      console.info(`SIGKILL at ${audioAtKillS.toFixed(3)} s of call audio: the WAV holds ${recordedS.toFixed(3)} s, ${(lossS * 1000).toFixed(0)} ms lost`);
      // The recording starts a few ms after the pipeline's stream (at the answer), hence the small negative margin.
      expect(lossS).toBeGreaterThan(-0.1);
      expect(lossS).toBeLessThanOrEqual(1.2);
      expect(Math.abs(dominantHz(left, 8000, Math.floor(left.length / 2)) - 440)).toBeLessThan(8.8);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        orphans.push(...childrenOf(child.pid!));
        child.kill("SIGKILL");
        await exited;
      }
      for (const pid of orphans) killTree(pid);
      await pipeline.close();
      await twin.stop();
    }
  });
});

/**
 * UPLINK=fast end to end: real Chrome, the twin's caller playing a grid of tones, and what the
 * pipeline received checked for the tones, for continuity on the grid (a duplicated or dropped
 * frame moves every later tone change off it), and on a lossy link for gaps that match the loss.
 */
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import type { StreamStats } from "../bridge/stream.ts";
import { startTestPipeline } from "./support/twilio-pipeline.ts";
import { startStack, until, type Stack } from "./support/stack.ts";
import { toneGrid } from "./support/tone-grid.ts";

const TONES = [600, 1000, 1400];
const SEGMENT_MS = 400;
/** Silence first: the host switches from the worklet's frames to the fast ones while nothing is said. */
const PLAY = `silence/800,${Array.from({ length: 3 }, () => TONES.map((hz) => `tone:${hz}@-12/${SEGMENT_MS}`).join(",")).join(",")},silence`;
/** 600 → 1000 → 1400 → 600 …: nine tones, eight changes. */
const PLAYED_CHANGES = TONES.length * 3 - 1;

/** An L16 pipeline that keeps the caller's audio. */
async function startL16Pipeline() {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  const streams: Array<{ audio: number[] }> = [];
  wss.on("connection", (ws) => {
    const s = { audio: [] as number[] };
    streams.push(s);
    ws.on("message", (data: Buffer, isBinary) => {
      if (isBinary) for (let i = 0; i + 1 < data.length; i += 2) s.audio.push(data.readInt16LE(i) / 32768);
    });
  });
  return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`, streams, close: () => new Promise<void>((r) => wss.close(() => r())) };
}

type Pipeline = { url: string; streams: Array<{ audio: number[] }>; close(): Promise<void> };

describe("fast uplink: the caller's audio decoded straight from RTP", () => {
  let stack: Stack | undefined;
  let pipeline: Pipeline | undefined;
  afterEach(async () => {
    await stack?.stop();
    await pipeline?.close();
    stack = pipeline = undefined;
  });

  /** One call: the tone grid played, optionally over a lossy link; what the pipeline got and the stream's stats. */
  async function call(profile: "mulaw" | "l16", impair?: { lossRate?: number; delayMs?: { min: number; max: number } }) {
    pipeline = profile === "mulaw" ? await startTestPipeline() : await startL16Pipeline();
    const env: Record<string, string> = { PIPELINE_URL: pipeline.url, UPLINK: "fast" };
    if (profile === "l16") Object.assign(env, { PIPELINE_PROTOCOL: "l16", PIPELINE_SAMPLE_RATE: "16000" });
    stack = await startStack(env);
    const codecs = profile === "mulaw" ? ["PCMU"] : ["opus"];
    const placed = await stack.placeCall({ from: "+15550003000", play: PLAY, codecs });
    const hostCall = await until(() => stack!.host.calls.byTelephonySession(placed.telephonySessionId), "the host to take the call", 20_000);
    const stats = () => (hostCall.stream?.stats ?? hostCall.streamStats) as StreamStats;
    // The link is made lossy once the tap runs, so every loss falls where the uplink sees it.
    await until(() => hostCall.stream && stats().uplink.fastFrames > 5, "fast uplink frames", 20_000);
    if (impair) {
      const res = await fetch(`${stack.twin.controlUrl}/calls/${placed.callId}/media/link`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(impair) });
      expect(res.status).toBe(200);
    }
    const rate = profile === "mulaw" ? 8000 : 16000;
    const audio = () => pipeline!.streams[0]?.audio ?? [];
    // Every change heard, then the last tone's 400 ms and some silence after it.
    const changed = await until(() => (toneGrid(audio(), rate, TONES, SEGMENT_MS).changes >= PLAYED_CHANGES ? audio().length : 0), "the tone grid to reach the pipeline", 30_000);
    await until(() => audio().length >= changed + rate * 0.6, "the last tone to reach the pipeline", 10_000);
    // Stats first: every gap they count was a loss the twin had counted by the time it answers.
    const uplink = { ...stats().uplink };
    const link = (await (await fetch(`${stack.twin.controlUrl}/calls/${placed.callId}/media/link`)).json()) as { packetsLost: number; packetsReordered: number };
    await stack.hangupFromCaller(placed.callId);
    return { grid: toneGrid(audio(), rate, TONES, SEGMENT_MS), uplink, packetsLost: link.packetsLost, packetsReordered: link.packetsReordered };
  }

  function expectTones(grid: ReturnType<typeof toneGrid>, minShare: number): void {
    expect(grid.changes).toBe(PLAYED_CHANGES);
    // The segments between changes, in the order played, each carrying its tone.
    expect(grid.segments.map((s) => s.hz)).toEqual([...TONES.slice(1), ...TONES, ...TONES].slice(0, PLAYED_CHANGES - 1));
    for (const s of grid.segments) expect(s.share).toBeGreaterThanOrEqual(minShare);
  }

  it("jittery link (PCMU): packets put back in order by RTP timestamp, the tones on one grid", async () => {
    // A spread under two packets' time: a packet overtakes at most its predecessor, which one
    // packet of hold-back puts back. Each reorder left unhandled would cost a gap and a drop.
    const { grid, uplink, packetsReordered } = await call("mulaw", { delayMs: { min: 0, max: 35 } });
    expect(packetsReordered).toBeGreaterThan(0);
    expectTones(grid, 0.9);
    expect(grid.offGridMs).toBeLessThanOrEqual(3);
    // Only a stall of the page longer than the hold-back turns a reorder into a gap.
    expect(uplink.gaps).toBeLessThan(packetsReordered / 2);
  });

  it("caller's RTP stalled 600 ms (PCMU): the worklet's frames carry the pipeline meanwhile, and the tones stay on one grid", async () => {
    pipeline = await startTestPipeline();
    stack = await startStack({ PIPELINE_URL: pipeline.url, UPLINK: "fast" });
    // 2 s of silence first: the stall falls in it, so every tone still plays.
    const placed = await stack.placeCall({ from: "+15550003001", play: `silence/1200,${PLAY}`, codecs: ["PCMU"] });
    const hostCall = await until(() => stack!.host.calls.byTelephonySession(placed.telephonySessionId), "the host to take the call", 20_000);
    const stats = () => (hostCall.stream?.stats ?? hostCall.streamStats) as StreamStats;
    await until(() => hostCall.stream && stats().uplink.fastFrames > 5, "fast uplink frames", 20_000);
    const seen = (pipeline as Awaited<ReturnType<typeof startTestPipeline>>).streams[0];
    const stalledAt = Date.now();
    const res = await fetch(`${stack.twin.controlUrl}/calls/${placed.callId}/media/stall`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ forMs: 600 }) });
    expect(res.status).toBe(200);
    const audio = () => seen.audio;
    const changed = await until(() => (toneGrid(audio(), 8000, TONES, SEGMENT_MS).changes >= PLAYED_CHANGES ? audio().length : 0), "the tone grid to reach the pipeline", 30_000);
    await until(() => audio().length >= changed + 8000 * 0.6, "the last tone to reach the pipeline", 10_000);
    const uplink = { ...stats().uplink };
    await stack.hangupFromCaller(placed.callId);
    // 600 ms without RTP, the first 100 ms of it taken as jitter: the rest bridged.
    expect(uplink.bridgedFrames).toBeGreaterThanOrEqual(10);
    // Media messages kept coming while the caller's RTP did not (without the bridge: one wait of 600 ms or more).
    const media = seen.messages.map((m, i) => ({ m, at: seen.receivedAtMs[i] })).filter(({ m, at }) => m.event === "media" && at >= stalledAt && at <= stalledAt + 1500);
    const waits = media.slice(1).map((x, i) => x.at - media[i].at);
    expect(Math.max(...waits)).toBeLessThan(400);
    // The fill of the bridged span was dropped: no frame repeated or missing moves a tone change off the grid.
    const grid = toneGrid(audio(), 8000, TONES, SEGMENT_MS);
    expectTones(grid, 0.95);
    expect(grid.offGridMs).toBeLessThanOrEqual(3);
  });

  for (const profile of ["mulaw", "l16"] as const) {
    const codec = profile === "mulaw" ? "PCMU, μ-law 8 kHz" : "Opus, L16 16 kHz";
    it(`clean link (${codec}): every tone, on one grid, no gap`, async () => {
      const { grid, uplink } = await call(profile);
      expect(uplink.mode).toBe("fast");
      expectTones(grid, 0.95);
      // Sample counts, not phase: no frame duplicated or dropped moves a change off the grid.
      expect(grid.offGridMs).toBeLessThanOrEqual(3);
      expect(uplink.gaps).toBe(0);
      expect(uplink.gapMs).toBe(0);
    });

    it(`5 % loss (${codec}): gaps counted as the twin lost packets, the tones still on the grid`, async () => {
      const { grid, uplink, packetsLost } = await call(profile, { lossRate: 0.05 });
      expect(packetsLost).toBeGreaterThan(0);
      expect(uplink.gaps).toBeGreaterThan(0);
      // Each loss is one gap unless losses run together; a loss in the last packets before the
      // stats were read has no packet after it yet. Each lost packet is 20 ms of silence.
      expect(uplink.gaps).toBeLessThanOrEqual(packetsLost);
      expect(uplink.gapMs).toBeLessThanOrEqual(packetsLost * 20);
      expect(uplink.gapMs).toBeGreaterThanOrEqual((packetsLost - 3) * 20);
      expectTones(grid, 0.8);
      // A packet lost at a tone change blurs where that change is found (seen: 5 ms); a frame
      // duplicated or dropped would move every later change by a whole 20 ms.
      expect(grid.offGridMs).toBeLessThanOrEqual(10);
    });
  }
});

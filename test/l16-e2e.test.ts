import { afterAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { dominantHz, energyAboveHz } from "../twin/caller/analysis.ts";
import { startStack, until, type Stack } from "./support/stack.ts";

interface L16Stream {
  start: Record<string, unknown> & { sampleRate: number; callSid: string };
  audio: number[];
  frames: number[];
  control: Array<Record<string, unknown>>;
  send(data: Buffer | string): void;
  closed: boolean;
}

/** A pipeline speaking the L16 profile: JSON start, then binary PCM16 LE both ways. */
async function startL16Pipeline(onStart: (s: L16Stream) => void) {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  const streams: L16Stream[] = [];
  wss.on("connection", (ws) => {
    let stream: L16Stream | undefined;
    ws.on("message", (data: Buffer, isBinary) => {
      if (!isBinary) {
        const msg = JSON.parse(data.toString());
        if (msg.event === "start") {
          stream = { start: msg, audio: [], frames: [], control: [], send: (d) => ws.readyState === ws.OPEN && ws.send(d), closed: false };
          streams.push(stream);
          onStart(stream);
        } else stream?.control.push(msg);
        return;
      }
      if (!stream) return;
      stream.frames.push(data.length);
      for (let i = 0; i + 1 < data.length; i += 2) stream.audio.push(data.readInt16LE(i) / 32768);
    });
    ws.on("close", () => stream && (stream.closed = true));
  });
  return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`, streams, close: () => new Promise<void>((r) => wss.close(() => r())) };
}

function pcm(rate: number, ms: number, tones: number[], dbfs = -14): Buffer {
  const n = (rate * ms) / 1000;
  const buf = Buffer.alloc(n * 2);
  const amp = 32767 * 10 ** (dbfs / 20);
  for (let i = 0; i < n; i++) buf.writeInt16LE(Math.round(tones.reduce((s, hz) => s + amp * Math.sin((2 * Math.PI * hz * i) / rate), 0)), i * 2);
  return buf;
}

describe("L16 profile: wideband both ways, control messages", () => {
  let stack: Stack | undefined;
  let pipeline: Awaited<ReturnType<typeof startL16Pipeline>> | undefined;
  afterAll(async () => {
    await stack?.stop();
    await pipeline?.close();
  });

  for (const rate of [16000, 24000]) {
    it(`keeps energy above 4 kHz both ways at ${rate} Hz (caller on Opus)`, async () => {
      await stack?.stop();
      await pipeline?.close();
      pipeline = await startL16Pipeline((s) => {
        // Speak a wideband signal back, in real time chunks of 100 ms.
        const chunk = pcm(rate, 100, [1000, 6000]);
        let n = 0;
        const timer = setInterval(() => (n++ < 25 && !s.closed ? s.send(chunk) : clearInterval(timer)), 100);
      });
      stack = await startStack({ PIPELINE_URL: pipeline.url, PIPELINE_PROTOCOL: "l16", PIPELINE_SAMPLE_RATE: String(rate) });
      const placed = await stack.placeCall({ from: "+15550002000", play: "tone:6000@-14", codecs: ["opus"], hangupAfterMs: 3000 });
      await until(async () => (await stack!.twinState(placed.callId)) === "ended", "the call to end");
      const stream = pipeline.streams[0];
      expect(stream.start.sampleRate).toBe(rate);
      expect(stream.start.callSid).toBe(placed.telephonySessionId);
      expect(stream.start.encoding).toBe("audio/l16");
      // 20 ms frames of PCM16 at the profile's rate.
      expect(new Set(stream.frames)).toEqual(new Set([(rate / 50) * 2]));
      const heardByPipeline = Float32Array.from(stream.audio.slice(rate));
      expect(Math.abs(dominantHz(heardByPipeline, rate) - 6000)).toBeLessThan(120);
      expect(energyAboveHz(heardByPipeline, rate, 4000)).toBeGreaterThan(0.8);
      const rec = await stack.recording(placed.callId);
      expect(rec.rate).toBe(48000);
      const heardByCaller = rec.samples.subarray(rec.rate / 2);
      // Half the signal's energy is the 6 kHz tone: it must survive Chrome's Opus encoder.
      expect(energyAboveHz(heardByCaller, rec.rate, 4000)).toBeGreaterThan(0.3);
      expect(stream.control.at(-1)).toMatchObject({ event: "stop" });
    });
  }

  it("hangs up when the pipeline sends hangup", async () => {
    await stack?.stop();
    await pipeline?.close();
    // Hang up only once the caller's tone reaches the pipeline: the call is answered and media
    // flows. (The start comes before the answer; a hangup then would decline a ringing call.)
    pipeline = await startL16Pipeline((s) => {
      const timer = setInterval(() => {
        if (s.closed) return clearInterval(timer);
        if (!s.audio.some((v) => Math.abs(v) > 0.05)) return;
        clearInterval(timer);
        s.send(JSON.stringify({ event: "hangup" }));
      }, 20);
    });
    stack = await startStack({ PIPELINE_URL: pipeline.url, PIPELINE_PROTOCOL: "l16", PIPELINE_SAMPLE_RATE: "16000" });
    const placed = await stack.placeCall({ from: "+15550002001", play: "tone:440" });
    await until(async () => (await stack!.twinState(placed.callId)) === "ended", "the pipeline's hangup to end the call");
    expect((await stack.twinCall(placed.callId)).endReason).toBe("agent-hangup");
    expect(stack.host.calls.byTelephonySession(placed.telephonySessionId)!.endReason).toBe("pipeline-hangup");
  });
});

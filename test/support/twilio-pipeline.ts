import alawmulaw from "alawmulaw";
import { WebSocketServer, type WebSocket } from "ws";

/** One stream as a test pipeline saw it: every message, and the caller audio decoded. */
export interface SeenStream {
  messages: Array<Record<string, unknown> & { event: string }>;
  receivedAtMs: number[];
  /** Caller audio, μ-law decoded to float. */
  audio: number[];
  start?: { streamSid: string; callSid: string; customParameters: Record<string, string>; mediaFormat: { encoding: string; sampleRate: number; channels: number } };
  stopped: boolean;
  closedAtMs?: number;
  ws: WebSocket;
  /** Sends μ-law audio to the host, one Twilio media message per chunk. */
  sendPcm(samples: Int16Array, chunkSamples?: number): void;
  send(msg: unknown): void;
}

/** What a stream does, chosen per call from its start message. */
export type Behaviour = (stream: SeenStream) => void | (() => void);

/** A Twilio Media Streams server for tests: records everything, and behaves as each test asks. */
export async function startTestPipeline(choose: (start: NonNullable<SeenStream["start"]>) => Behaviour | undefined = () => undefined) {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  const streams: SeenStream[] = [];
  wss.on("connection", (ws) => {
    const stream: SeenStream = {
      messages: [],
      receivedAtMs: [],
      audio: [],
      stopped: false,
      ws,
      send: (msg) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(msg)),
      sendPcm(samples, chunkSamples = 160) {
        for (let i = 0; i < samples.length; i += chunkSamples) {
          const payload = Buffer.from(alawmulaw.mulaw.encode(samples.subarray(i, i + chunkSamples))).toString("base64");
          this.send({ event: "media", streamSid: this.start?.streamSid, media: { payload } });
        }
      },
    };
    streams.push(stream);
    let cleanup: void | (() => void);
    ws.on("message", (data) => {
      const msg = JSON.parse(data.toString()) as SeenStream["messages"][number];
      stream.messages.push(msg);
      stream.receivedAtMs.push(Date.now());
      if (msg.event === "start") {
        stream.start = msg.start as SeenStream["start"];
        cleanup = choose(stream.start!)?.(stream);
      } else if (msg.event === "media") {
        const payload = Buffer.from((msg.media as { payload: string }).payload, "base64");
        for (const v of alawmulaw.mulaw.decode(payload)) stream.audio.push(v / 32768);
      } else if (msg.event === "stop") stream.stopped = true;
    });
    ws.on("close", () => {
      stream.closedAtMs = Date.now();
      cleanup?.();
    });
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`,
    streams,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

/** A behaviour: speak a tone in real time, 20 ms per message, until the stream ends. */
export function speakTone(hz: number, dbfs = -12, rate = 8000): Behaviour {
  return (stream) => {
    const amp = 32767 * 10 ** (dbfs / 20);
    let phase = 0;
    const frame = new Int16Array(rate / 50);
    const started = performance.now();
    let sent = 0;
    const timer = setInterval(() => {
      // Catch up on timer lateness so the pipeline really speaks in real time.
      const due = Math.floor((performance.now() - started) / 20) + 3;
      for (; sent < due; sent++) {
        for (let i = 0; i < frame.length; i++) {
          frame[i] = Math.round(amp * Math.sin(phase));
          phase += (2 * Math.PI * hz) / rate;
        }
        stream.sendPcm(frame);
      }
    }, 20);
    return () => clearInterval(timer);
  };
}

/**
 * The smallest pipeline: a Twilio Media Streams server that says back what it hears.
 * Copy it as the start of your own: replace `onCallerAudio` with speech-to-text → LLM → text-to-speech.
 *
 *   npx tsx examples/echo-pipeline.ts --port 8765      then PIPELINE_URL=ws://127.0.0.1:8765
 */
import { WebSocketServer, type WebSocket } from "ws";
import { fileURLToPath } from "node:url";

interface TwilioMessage {
  event: string;
  streamSid?: string;
  start?: { streamSid: string; callSid: string; customParameters?: Record<string, string>; mediaFormat: { encoding: string; sampleRate: number } };
  media?: { payload: string; chunk: string; timestamp: string };
  mark?: { name: string };
  stop?: unknown;
}

export interface EchoPipeline {
  url: string;
  /** Streams seen so far, with what each heard and sent. */
  streams: Array<{ streamSid: string; callSid: string; mediaIn: number; mediaOut: number; stopped: boolean }>;
  close(): Promise<void>;
}

export async function startEchoPipeline(port = 0, host = "127.0.0.1"): Promise<EchoPipeline> {
  const wss = new WebSocketServer({ port, host });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  const streams: EchoPipeline["streams"] = [];
  wss.on("connection", (ws: WebSocket) => {
    let stream: EchoPipeline["streams"][number] | undefined;
    ws.on("message", (data) => {
      let msg: TwilioMessage;
      try {
        msg = JSON.parse(data.toString()) as TwilioMessage;
      } catch {
        return;
      }
      if (msg.event === "start" && msg.start) {
        stream = { streamSid: msg.start.streamSid, callSid: msg.start.callSid, mediaIn: 0, mediaOut: 0, stopped: false };
        streams.push(stream);
      } else if (msg.event === "media" && msg.media && stream) {
        stream.mediaIn++;
        // Echo: the caller's own audio goes straight back.
        ws.send(JSON.stringify({ event: "media", streamSid: stream.streamSid, media: { payload: msg.media.payload } }));
        stream.mediaOut++;
      } else if (msg.event === "stop" && stream) {
        stream.stopped = true;
      }
    });
  });
  const address = wss.address() as { port: number };
  return {
    url: `ws://${host}:${address.port}`,
    streams,
    close: () =>
      new Promise((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf("--port");
  const port = i > 0 ? Number(process.argv[i + 1]) : 8765;
  const p = await startEchoPipeline(port);
  console.log(`echo pipeline listening on ${p.url}`);
}

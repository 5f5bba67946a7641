/**
 * The smallest L16-profile pipeline: it says back what it hears. One JSON `start`, then binary
 * PCM16 little-endian frames both ways (docs/PROTOCOL.md, "The l16 profile").
 * Copy it as the start of your own: replace the echo with speech-to-text → LLM → text-to-speech.
 *
 *   npx tsx examples/echo-pipeline-l16.ts --port 8766
 *   then PIPELINE_URL=ws://127.0.0.1:8766 PIPELINE_PROTOCOL=l16 PIPELINE_SAMPLE_RATE=16000
 */
import { WebSocketServer, type WebSocket } from "ws";
import { fileURLToPath } from "node:url";

/** The host's first message on every connection. */
interface L16Start {
  event: "start";
  streamSid: string;
  callSid: string;
  sampleRate: number;
  customParameters: Record<string, string>;
}

export interface EchoPipelineL16 {
  url: string;
  /** Streams seen so far, with what each heard and sent. */
  streams: Array<{ streamSid: string; callSid: string; sampleRate: number; framesIn: number; framesOut: number; stopped: boolean; stopReason?: string }>;
  close(): Promise<void>;
}

export async function startEchoPipelineL16(port = 0, host = "127.0.0.1"): Promise<EchoPipelineL16> {
  const wss = new WebSocketServer({ port, host });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  const streams: EchoPipelineL16["streams"] = [];
  wss.on("connection", (ws: WebSocket) => {
    let stream: EchoPipelineL16["streams"][number] | undefined;
    ws.on("message", (data: Buffer, isBinary) => {
      if (isBinary) {
        // 20 ms of the caller's audio (PCM16 LE at start.sampleRate): echo it straight back.
        if (!stream) return;
        stream.framesIn++;
        ws.send(data, { binary: true });
        stream.framesOut++;
        return;
      }
      let msg: { event?: string; reason?: string };
      try {
        msg = JSON.parse(data.toString()) as { event?: string; reason?: string };
      } catch {
        return;
      }
      if (msg.event === "start") {
        const start = msg as L16Start;
        stream = { streamSid: start.streamSid, callSid: start.callSid, sampleRate: start.sampleRate, framesIn: 0, framesOut: 0, stopped: false };
        streams.push(stream);
      } else if (msg.event === "stop" && stream) {
        stream.stopped = true;
        stream.stopReason = msg.reason;
      }
      // `mark` (a mark of ours was played) and `dtmf` (the caller pressed a key) need no answer here.
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
  const port = i > 0 ? Number(process.argv[i + 1]) : 8766;
  const p = await startEchoPipelineL16(port);
  console.log(`L16 echo pipeline listening on ${p.url} (set PIPELINE_PROTOCOL=l16)`);
}

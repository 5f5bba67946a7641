/**
 * A loopback stand-in for ElevenLabs' Agents Platform WebSocket, written from its public
 * reference: the signed-URL endpoint (xi-api-key checked, 401 otherwise), the conversation socket
 * (agent_id, and for a private agent a signature it issued), conversation_initiation_client_data →
 * conversation_initiation_metadata with the agent's formats, a greeting tone sent as audio events
 * much faster than real time (held until greet() while `holdGreetings` is set), an interruption
 * when the caller's user_audio_chunk energy says it talks over the agent, pings whose pongs it
 * checks, and client tool calls on cue.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import alawmulaw from "alawmulaw";
import { WebSocketServer, type WebSocket } from "ws";

export interface ElevenLabsStandinOptions {
  agentId: string;
  /** Set: a private agent, reached only through a signed URL fetched with this key. */
  apiKey?: string;
  /** The agent's formats (its input, its output), as ElevenLabs names them. */
  inputFormat?: string;
  outputFormat?: string;
  greetingMs?: number;
  greetingHz?: number;
  /** Each audio event carries this much. */
  chunkMs?: number;
  /** The caller counts as speaking above this level (dBFS RMS of one chunk). */
  speechDbfs?: number;
  /** A ping this often (ms). */
  pingIntervalMs?: number;
  /** Also send a non-JSON frame, an event the profile does not know and a malformed known one, before the greeting. */
  sendOddEvents?: boolean;
}

export interface ElevenLabsStandinSession {
  path: string;
  /** The client's conversation_initiation_client_data. */
  initiation?: Record<string, unknown>;
  /** Every client message but the audio chunks, in order. */
  events: Array<Record<string, unknown>>;
  chunks: number;
  greetingSent?: { firstMs: number; lastMs: number; durationMs: number; firstEventId: number; lastEventId: number };
  speechStartedAtMs?: number;
  speechStoppedAtMs?: number;
  interruptions: Array<{ atMs: number; eventId: number }>;
  pingsSent: number[];
  /** Pongs whose event_id matched a ping sent; `badPongs` those that did not. */
  pongs: number[];
  badPongs: unknown[];
  toolResults: Array<{ tool_call_id: string; result: unknown; is_error: unknown }>;
  closed: boolean;
  greet(): void;
  /** Asks the client to run a tool (client_tool_call); returns its tool_call_id. */
  callTool(name: string, parameters: Record<string, unknown>): string;
  /** Cuts the socket, as a network failure would. */
  drop(): void;
}

const id = (prefix: string) => `${prefix}_${randomBytes(8).toString("hex")}`;
const PATH = "/v1/convai/conversation";

export async function startElevenLabsStandin(opts: ElevenLabsStandinOptions) {
  const inputFormat = opts.inputFormat ?? "ulaw_8000";
  const outputFormat = opts.outputFormat ?? "ulaw_8000";
  const greetingMs = opts.greetingMs ?? 4000;
  const hz = opts.greetingHz ?? 440;
  const chunkMs = opts.chunkMs ?? 100;
  const speechLevel = 10 ** ((opts.speechDbfs ?? -30) / 20);
  const sessions: ElevenLabsStandinSession[] = [];
  /** Signed-URL requests refused (wrong key), and conversation sockets refused (no or a used signature). */
  const refused: string[] = [];
  const signatures = new Set<string>();
  const control = { holdGreetings: false };

  const http = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (req.method !== "GET" || url.pathname !== `${PATH}/get-signed-url`) return void res.writeHead(404).end();
    if (!opts.apiKey || req.headers["xi-api-key"] !== opts.apiKey) {
      refused.push(`signed-url ${url.search}`);
      return void res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ detail: { status: "invalid_api_key", message: "Invalid API key" } }));
    }
    if (url.searchParams.get("agent_id") !== opts.agentId) return void res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ detail: { status: "agent_not_found" } }));
    const signature = id("sig");
    signatures.add(signature);
    const port = (http.address() as { port: number }).port;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ signed_url: `ws://127.0.0.1:${port}${PATH}?agent_id=${opts.agentId}&conversation_signature=${signature}` }));
  });
  const wss = new WebSocketServer({
    server: http,
    verifyClient: (info, cb) => {
      const url = new URL(info.req.url ?? "/", "http://x");
      if (url.pathname !== PATH || url.searchParams.get("agent_id") !== opts.agentId) return cb(false, 404, "Not Found");
      const signature = url.searchParams.get("conversation_signature") ?? "";
      if (opts.apiKey && !signatures.delete(signature)) {
        refused.push(`socket ${url.pathname}`);
        return cb(false, 403, "Forbidden");
      }
      cb(true);
    },
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", () => r()));

  wss.on("connection", (ws: WebSocket, req) => {
    const send = (e: Record<string, unknown>) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(e));
    const outMulaw = outputFormat.startsWith("ulaw");
    const outRate = Number(outputFormat.split("_")[1]);
    const inMulaw = inputFormat.startsWith("ulaw");
    const inRate = Number(inputFormat.split("_")[1]);
    let eventId = 0;
    let speaking = false;
    let quietMs = 0;
    let callerTurns = 0;
    let greeted = false;
    let started = false;
    /** Wall-clock end of what the agent has said: the agent counts as talking until then. */
    let agentTalksUntilMs = 0;
    const s: ElevenLabsStandinSession = {
      path: req.url ?? "",
      events: [],
      chunks: 0,
      interruptions: [],
      pingsSent: [],
      pongs: [],
      badPongs: [],
      toolResults: [],
      closed: false,
      greet: () => greet(),
      callTool(name, parameters) {
        const toolCallId = id("toolu");
        send({ type: "client_tool_call", client_tool_call: { tool_name: name, tool_call_id: toolCallId, parameters } });
        return toolCallId;
      },
      drop: () => ws.terminate(),
    };
    sessions.push(s);
    let pingId = 0;
    const pinger = setInterval(() => {
      if (!started) return;
      s.pingsSent.push(++pingId);
      send({ type: "ping", ping_event: { event_id: pingId, ping_ms: null } });
    }, opts.pingIntervalMs ?? 1000);

    const greet = () => {
      if (greeted) return;
      greeted = true;
      if (opts.sendOddEvents) {
        ws.send("{not json");
        send({ type: "vad_score", vad_score_event: { vad_score: 0.1 } });
        send({ type: "audio", audio_event: { event_id: "seven" } });
      }
      send({ type: "agent_response", agent_response_event: { agent_response: "Hello, thanks for calling. How can I help?" } });
      const perChunk = (outRate * chunkMs) / 1000;
      const total = (outRate * greetingMs) / 1000;
      const firstMs = Date.now();
      const firstEventId = eventId + 1;
      for (let at = 0; at < total; at += perChunk) {
        const pcm = new Int16Array(perChunk);
        for (let i = 0; i < perChunk; i++) pcm[i] = Math.round(0.25 * 32767 * Math.sin((2 * Math.PI * hz * (at + i)) / outRate));
        const bytes = outMulaw ? Buffer.from(alawmulaw.mulaw.encode(pcm)) : Buffer.from(pcm.buffer);
        send({ type: "audio", audio_event: { audio_base_64: bytes.toString("base64"), event_id: ++eventId } });
      }
      agentTalksUntilMs = firstMs + greetingMs;
      s.greetingSent = { firstMs, lastMs: Date.now(), durationMs: greetingMs, firstEventId, lastEventId: eventId };
    };

    const onChunk = (audio: string) => {
      s.chunks++;
      const bytes = Buffer.from(audio, "base64");
      const pcm = inMulaw ? alawmulaw.mulaw.decode(bytes) : new Int16Array(Uint8Array.from(bytes).buffer);
      let sum = 0;
      for (const v of pcm) sum += (v / 32768) ** 2;
      const rms = Math.sqrt(sum / Math.max(1, pcm.length));
      const ms = (pcm.length * 1000) / inRate;
      if (rms > speechLevel && !speaking) {
        speaking = true;
        quietMs = 0;
        s.speechStartedAtMs = Date.now();
        // Talking over the agent: it stops, and says so (audio from the next event id on is new).
        if (Date.now() < agentTalksUntilMs) {
          agentTalksUntilMs = 0;
          s.interruptions.push({ atMs: Date.now(), eventId: ++eventId });
          send({ type: "interruption", interruption_event: { event_id: eventId } });
          send({ type: "agent_response_correction", agent_response_correction_event: { original_agent_response: "Hello, thanks for calling. How can I help?", corrected_agent_response: "Hello, thanks for calling..." } });
        }
      } else if (rms <= speechLevel && speaking && (quietMs += ms) >= 500) {
        speaking = false;
        s.speechStoppedAtMs = Date.now();
        send({ type: "user_transcript", user_transcription_event: { user_transcript: `caller turn ${++callerTurns}` } });
      } else if (rms > speechLevel) quietMs = 0;
    };

    ws.on("message", (data) => {
      let e: Record<string, unknown> & { type?: string };
      try {
        e = JSON.parse(data.toString());
      } catch {
        return s.events.push({ invalid: data.toString().slice(0, 100) });
      }
      if (typeof e.user_audio_chunk === "string") return onChunk(e.user_audio_chunk);
      s.events.push(e);
      switch (e.type) {
        case "conversation_initiation_client_data":
          s.initiation = e;
          started = true;
          send({ type: "conversation_initiation_metadata", conversation_initiation_metadata_event: { conversation_id: id("conv"), agent_output_audio_format: outputFormat, user_input_audio_format: inputFormat } });
          return control.holdGreetings ? undefined : greet();
        case "pong":
          return void (s.pingsSent.includes(e.event_id as number) ? s.pongs.push(e.event_id as number) : s.badPongs.push(e.event_id));
        case "client_tool_result":
          return void s.toolResults.push({ tool_call_id: String(e.tool_call_id), result: e.result, is_error: e.is_error });
      }
    });
    ws.on("close", () => {
      s.closed = true;
      clearInterval(pinger);
    });
  });

  return Object.assign(control, {
    url: `ws://127.0.0.1:${(http.address() as { port: number }).port}${PATH}`,
    sessions,
    refused,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        http.closeAllConnections();
        http.close(() => r());
      }),
  });
}

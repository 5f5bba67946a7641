/**
 * A loopback stand-in for OpenAI's Realtime API, written from its public reference (GA event
 * names): it checks the bearer key on the upgrade (401 otherwise), takes session.update, answers
 * the first response.create with a greeting tone sent as audio deltas much faster than real time
 * (with its transcript; held until greet() while `holdGreetings` is set), plays server VAD by watching the caller's energy in
 * input_audio_buffer.append, records every truncate, and emits function calls on cue.
 */
import { randomBytes } from "node:crypto";
import alawmulaw from "alawmulaw";
import { WebSocketServer, type WebSocket } from "ws";

export interface StandinOptions {
  apiKey: string;
  greetingMs?: number;
  greetingHz?: number;
  /** Each audio delta carries this much. */
  deltaMs?: number;
  /** The caller counts as speaking above this level (dBFS RMS of one append). */
  speechDbfs?: number;
  /** Also send an event the profile does not know and a malformed known one, before the greeting. */
  sendOddEvents?: boolean;
}

export interface StandinSession {
  path: string;
  sessionUpdates: Array<Record<string, unknown>>;
  /** Every client event but the appends, in order. */
  events: Array<Record<string, unknown>>;
  appends: number;
  truncates: Array<{ item_id: string; content_index: number; audio_end_ms: number; atMs: number }>;
  /** Wall-clock times: greeting's first and last delta sent, speech_started sent. */
  greetingSent?: { firstMs: number; lastMs: number; itemId: string; durationMs: number };
  speechStartedAtMs?: number;
  speechStoppedAtMs?: number;
  outputs: Array<{ call_id: string; output: string }>;
  closed: boolean;
  /** Sends the greeting now: for a session whose first response.create was held (`holdGreetings`). */
  greet(): void;
  /** Emits a function call as the model would (response.function_call_arguments.done); returns its call_id. */
  callTool(name: string, args: Record<string, unknown>): string;
}

const id = (prefix: string) => `${prefix}_${randomBytes(8).toString("hex")}`;

export async function startRealtimeStandin(opts: StandinOptions) {
  const greetingMs = opts.greetingMs ?? 4000;
  const hz = opts.greetingHz ?? 440;
  const deltaMs = opts.deltaMs ?? 100;
  const speechLevel = 10 ** ((opts.speechDbfs ?? -30) / 20);
  const sessions: StandinSession[] = [];
  const refused: string[] = [];
  const wss = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    verifyClient: (info, cb) => {
      if (info.req.headers.authorization === `Bearer ${opts.apiKey}`) return cb(true);
      refused.push(info.req.url ?? "");
      cb(false, 401, "Unauthorized");
    },
  });
  await new Promise<void>((r) => wss.once("listening", () => r()));

  wss.on("connection", (ws: WebSocket, req) => {
    const send = (e: Record<string, unknown>) => ws.readyState === ws.OPEN && ws.send(JSON.stringify({ event_id: id("event"), ...e }));
    let pcmu = true;
    let responses = 0;
    let speaking = false;
    let quietMs = 0;
    let callerItems = 0;
    let greeted = false;
    const s: StandinSession = {
      path: req.url ?? "",
      sessionUpdates: [],
      events: [],
      appends: 0,
      truncates: [],
      outputs: [],
      closed: false,
      greet: () => greet(),
      callTool(name, args) {
        const callId = id("call");
        send({ type: "response.function_call_arguments.done", response_id: id("resp"), item_id: id("item"), output_index: 0, call_id: callId, name, arguments: JSON.stringify(args) });
        return callId;
      },
    };
    sessions.push(s);
    send({ type: "session.created", session: { type: "realtime", id: id("sess") } });

    const greet = () => {
      if (greeted) return;
      greeted = true;
      const rate = pcmu ? 8000 : 24000;
      const responseId = id("resp");
      const itemId = id("item");
      if (opts.sendOddEvents) {
        send({ type: "rate_limits.updated", rate_limits: [] });
        send({ type: "response.output_audio.delta", response_id: responseId });
      }
      send({ type: "response.created", response: { id: responseId, status: "in_progress" } });
      const perDelta = (rate * deltaMs) / 1000;
      const total = (rate * greetingMs) / 1000;
      const firstMs = Date.now();
      for (let at = 0; at < total; at += perDelta) {
        const pcm = new Int16Array(perDelta);
        for (let i = 0; i < perDelta; i++) pcm[i] = Math.round(0.25 * 32767 * Math.sin((2 * Math.PI * hz * (at + i)) / rate));
        const bytes = pcmu ? Buffer.from(alawmulaw.mulaw.encode(pcm)) : Buffer.from(pcm.buffer);
        send({ type: "response.output_audio.delta", response_id: responseId, item_id: itemId, output_index: 0, content_index: 0, delta: bytes.toString("base64") });
      }
      s.greetingSent = { firstMs, lastMs: Date.now(), itemId, durationMs: greetingMs };
      send({ type: "response.output_audio.done", response_id: responseId, item_id: itemId, output_index: 0, content_index: 0 });
      send({ type: "response.output_audio_transcript.done", response_id: responseId, item_id: itemId, output_index: 0, content_index: 0, transcript: "Hello, thanks for calling. How can I help?" });
      send({ type: "response.done", response: { id: responseId, status: "completed" } });
    };

    const onAppend = (audio: string) => {
      s.appends++;
      const bytes = Buffer.from(audio, "base64");
      const pcm = pcmu ? alawmulaw.mulaw.decode(bytes) : new Int16Array(Uint8Array.from(bytes).buffer);
      let sum = 0;
      for (const v of pcm) sum += (v / 32768) ** 2;
      const rms = Math.sqrt(sum / Math.max(1, pcm.length));
      const ms = (pcm.length * 1000) / (pcmu ? 8000 : 24000);
      if (rms > speechLevel && !speaking) {
        speaking = true;
        quietMs = 0;
        s.speechStartedAtMs = Date.now();
        send({ type: "input_audio_buffer.speech_started", audio_start_ms: 0, item_id: id("item") });
      } else if (rms <= speechLevel && speaking && (quietMs += ms) >= 500) {
        speaking = false;
        s.speechStoppedAtMs = Date.now();
        send({ type: "input_audio_buffer.speech_stopped", audio_end_ms: 0, item_id: id("item") });
        send({ type: "conversation.item.input_audio_transcription.completed", item_id: id("item"), content_index: 0, transcript: `caller turn ${++callerItems}` });
      } else if (rms > speechLevel) quietMs = 0;
    };

    ws.on("message", (data) => {
      const e = JSON.parse(data.toString()) as Record<string, unknown> & { type: string };
      if (e.type === "input_audio_buffer.append") return onAppend(String(e.audio));
      s.events.push(e);
      switch (e.type) {
        case "session.update": {
          s.sessionUpdates.push(e);
          const format = ((e.session as { audio?: { output?: { format?: { type?: string } } } }).audio?.output?.format?.type) ?? "audio/pcm";
          pcmu = format === "audio/pcmu";
          return send({ type: "session.updated", session: e.session });
        }
        case "response.create":
          // The first is the greeting; later ones (after a tool's output) answer with no audio.
          // Held: the test starts it once the call's media is flowing (s.greet()).
          if (responses++ === 0) return control.holdGreetings ? undefined : greet();
          return send({ type: "response.done", response: { id: id("resp"), status: "completed" } });
        case "conversation.item.truncate":
          s.truncates.push({ ...(e as unknown as StandinSession["truncates"][number]), atMs: Date.now() });
          return send({ type: "conversation.item.truncated", item_id: e.item_id, content_index: e.content_index, audio_end_ms: e.audio_end_ms });
        case "conversation.item.create": {
          const item = e.item as { type?: string; call_id?: string; output?: string };
          if (item.type === "function_call_output") s.outputs.push({ call_id: String(item.call_id), output: String(item.output) });
          return;
        }
      }
    });
    ws.on("close", () => (s.closed = true));
  });

  const control = {
    /** Hold each new session's greeting until its greet() is called (a model slow to answer). */
    holdGreetings: false,
  };
  return Object.assign(control, {
    url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/v1/realtime`,
    sessions,
    /** Upgrade paths refused for a wrong key. */
    refused,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  });
}

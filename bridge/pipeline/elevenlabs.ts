import alawmulaw from "alawmulaw";
import { z } from "zod";
import { mediaProbe } from "../probe.ts";
import { TOOLS_HINT, TOOLS_PATTERN, ToolRunner, toolsOf, type ToolOutcome } from "./call-tools.ts";
import { AUDIO_FORMATS, agentFormats, audioFormat, parseEvent, type AudioFormat, type ServerEvent } from "./elevenlabs-events.ts";
import type { PipelineProfile, PipelineProtocol } from "./protocol.ts";
import type { PipelineHandlers, PipelineOptions, PipelineSession, StreamInfo } from "./session.ts";
import { PipelineSocket, redactUrl } from "./socket.ts";

const DEFAULT_URL = "wss://api.elevenlabs.io/v1/convai/conversation";

export const elevenlabsProtocol: PipelineProtocol = {
  name: "elevenlabs",
  summary: "elevenlabs (ElevenLabs Agents, straight to the agent)",
  urlSetting: "ELEVENLABS_URL",
  settings: {
    ELEVENLABS_AGENT_ID: { pattern: /^[\w-]{1,128}$/, required: true, perCall: true, hint: "the agent's id (agent_…), needed with PIPELINE_PROTOCOL=elevenlabs" },
    ELEVENLABS_API_KEY: { pattern: /^\S{8,}$/, secret: true, hint: "your ElevenLabs API key, for a private agent (a signed URL is fetched per call); leave unset for a public agent" },
    ELEVENLABS_URL: { pattern: /^wss?:\/\/\S+$/, default: DEFAULT_URL, hint: `the Agents WebSocket URL (ws:// or wss://), e.g. ${DEFAULT_URL}` },
    ELEVENLABS_AUDIO: { values: AUDIO_FORMATS, default: "ulaw_8000", hint: "the agent's audio format (its input and output, set in the agent's settings): ulaw_8000 keeps calls on G.711" },
    ELEVENLABS_FIRST_MESSAGE: { pattern: /^[^]{1,2000}$/, perCall: true, hint: "the agent's first message, up to 2000 characters (the agent must allow the override)" },
    ELEVENLABS_PROMPT: { pattern: /^[^]{1,16000}$/, perCall: true, hint: "the agent's system prompt, up to 16000 characters (the agent must allow the override)" },
    ELEVENLABS_LANGUAGE: { pattern: /^[a-z]{2,3}(-[A-Za-z]{2,4})?$/, perCall: true, hint: "the conversation's language, e.g. en or pt-BR (the agent must allow the override)" },
    ELEVENLABS_TOOLS: { pattern: TOOLS_PATTERN, default: "hang_up", perCall: true, hint: `the client tools the host runs for the agent, ${TOOLS_HINT}` },
  },
  profile: (v) => {
    const f = audioFormat(v.ELEVENLABS_AUDIO ?? "ulaw_8000")!;
    return { protocol: "elevenlabs", encoding: f.encoding, sampleRate: f.rate, options: v };
  },
  createSession: (profile, opts, handlers) => new ElevenLabsSession(opts, profile, handlers),
};

const signedUrlBody = z.object({ signed_url: z.string().regex(/^wss?:\/\/\S+$/) });

/** The agent's audio now playing: where its first sample sits in the playout, and how much of it came. */
interface AgentTurn {
  startAt: number;
  samples: number;
}

/**
 * ElevenLabs' Agents Platform as a pipeline: conversation_initiation_client_data with the call's
 * dynamic variables, the agent's formats from conversation_initiation_metadata, user_audio_chunk
 * out, audio into the playout, interruption → clear (with what the caller heard, from the playout
 * position), ping → pong, transcripts, and call control as client tools.
 */
export class ElevenLabsSession implements PipelineSession {
  readonly sampleRate: number;
  /** A new connection is a new conversation: a dropped one cannot be picked up (the stream ends the call). */
  readonly resumable = false;
  private socket: PipelineSocket | undefined;
  private readonly options: Readonly<Record<string, string>>;
  private readonly runner: ToolRunner;
  private readonly call: AudioFormat;
  private formats: { input: AudioFormat; output: AudioFormat } | undefined;
  /** Set while open() waits for the conversation to start. */
  private metadata: { resolve(): void; reject(e: Error): void } | undefined;
  private turn: AgentTurn | undefined;
  /** Audio events older than this id belong to a reply the caller cut off: they must not play. */
  private interruptedAt = 0;
  private lastAudioId = -1;
  private readonly dial = new AbortController();
  private closed = false;

  constructor(
    private readonly opts: PipelineOptions,
    profile: PipelineProfile,
    private readonly on: PipelineHandlers,
  ) {
    this.sampleRate = profile.sampleRate;
    this.call = { encoding: profile.encoding, rate: profile.sampleRate };
    this.options = profile.options ?? {};
    this.runner = new ToolRunner("elevenlabs", toolsOf(this.options.ELEVENLABS_TOOLS), on);
  }

  get rttMs(): number | undefined {
    return this.socket?.rttMs;
  }

  async open(info: StreamInfo): Promise<void> {
    const url = await this.conversationUrl();
    if (this.closed) throw new Error("the stream closed while ElevenLabs was dialled");
    const socket = new PipelineSocket({ ...this.opts, url }, { onMessage: (data, isBinary) => (isBinary ? this.on.onBadMessage("binary frame from ElevenLabs (JSON events expected)") : this.onEvent(data.toString())), onDropped: (drop) => this.onDropped(drop) });
    this.socket = socket;
    try {
      await socket.open();
    } catch (err) {
      const status = (err as { status?: number }).status;
      if (status === 401 || status === 403) throw new Error(`ElevenLabs refused the conversation (HTTP ${status}): ${this.options.ELEVENLABS_API_KEY ? "check ELEVENLABS_API_KEY and ELEVENLABS_AGENT_ID" : "a private agent needs ELEVENLABS_API_KEY"}`);
      throw err;
    }
    const started = new Promise<void>((resolve, reject) => (this.metadata = { resolve, reject }));
    const timer = setTimeout(() => this.metadata?.reject(new Error(`ElevenLabs sent no conversation_initiation_metadata within ${this.opts.connectTimeoutMs} ms`)), this.opts.connectTimeoutMs);
    this.send(this.initiation(info));
    try {
      await started;
    } catch (err) {
      socket.close("conversation not started");
      throw err;
    } finally {
      clearTimeout(timer);
      this.metadata = undefined;
    }
  }

  /**
   * The agent's formats, taken as the metadata arrives: its audio may follow in the same read,
   * before any continuation of open() runs.
   */
  private onMetadata(e: ServerEvent<"conversation_initiation_metadata">): void {
    if (!this.metadata) return;
    const m = e.conversation_initiation_metadata_event;
    const formats = agentFormats(this.call, m.user_input_audio_format, m.agent_output_audio_format);
    if (typeof formats === "string") return this.metadata.reject(new Error(`ElevenLabs: ${formats}`));
    this.formats = formats;
    this.on.onNote({ conversationId: m.conversation_id ?? null, input: m.user_input_audio_format, output: m.agent_output_audio_format }, "elevenlabs: conversation started");
    this.metadata.resolve();
  }

  /** The conversation's URL: signed by ElevenLabs for the key when one is set (the key never goes on the WebSocket). */
  private async conversationUrl(): Promise<string> {
    const base = new URL(this.opts.url);
    const agentId = this.options.ELEVENLABS_AGENT_ID ?? "";
    const key = this.options.ELEVENLABS_API_KEY;
    if (!key) {
      if (!base.searchParams.has("agent_id")) base.searchParams.set("agent_id", agentId);
      return base.toString();
    }
    const http = new URL(base);
    http.protocol = base.protocol === "wss:" ? "https:" : "http:";
    http.pathname = `${base.pathname.replace(/\/$/, "")}/get-signed-url`;
    http.search = "";
    http.searchParams.set("agent_id", agentId);
    const shown = redactUrl(http.toString());
    let res: Response;
    try {
      res = await fetch(http, { headers: { "xi-api-key": key }, signal: AbortSignal.any([this.dial.signal, AbortSignal.timeout(this.opts.connectTimeoutMs)]) });
    } catch (err) {
      if (this.dial.signal.aborted) throw new Error("the stream closed while ElevenLabs was dialled");
      const e = err as Error & { cause?: { code?: string } };
      throw new Error(`ElevenLabs ${shown} unreachable: ${e.name === "TimeoutError" ? `no answer within ${this.opts.connectTimeoutMs} ms` : (e.cause?.code ?? e.message)}`);
    }
    const body: unknown = await res.json().catch(() => undefined);
    if (res.status === 401 || res.status === 403) throw new Error(`ElevenLabs refused the API key (HTTP ${res.status}): check ELEVENLABS_API_KEY`);
    if (res.status === 404) throw new Error(`ElevenLabs knows no agent ${agentId} (HTTP 404): check ELEVENLABS_AGENT_ID`);
    const parsed = signedUrlBody.safeParse(body);
    if (!res.ok || !parsed.success) throw new Error(`ElevenLabs gave no signed URL (HTTP ${res.status}) at ${shown}`);
    return parsed.data.signed_url;
  }

  /** Who calls whom, as dynamic variables the agent's prompt can use, and the per-call overrides. */
  private initiation(info: StreamInfo): Record<string, unknown> {
    const o = this.options;
    const agent: Record<string, unknown> = {};
    if (o.ELEVENLABS_PROMPT) agent.prompt = { prompt: o.ELEVENLABS_PROMPT };
    if (o.ELEVENLABS_FIRST_MESSAGE) agent.first_message = o.ELEVENLABS_FIRST_MESSAGE;
    if (o.ELEVENLABS_LANGUAGE) agent.language = o.ELEVENLABS_LANGUAGE;
    return {
      type: "conversation_initiation_client_data",
      dynamic_variables: { ...info.customParameters, caller_number: info.from, called_number: info.to, call_id: info.customParameters.callId ?? info.callSid, direction: info.direction },
      ...(Object.keys(agent).length && { conversation_config_override: { agent } }),
    };
  }

  private send(event: Record<string, unknown>): void {
    this.socket?.send(JSON.stringify(event));
  }

  sendCallerAudio(pcm: Int16Array): boolean {
    // Until the agent's formats are known, there is no conversation to send to.
    if (!this.formats || !this.socket) return true;
    const bytes = this.formats.input.encoding === "mulaw" ? alawmulaw.mulaw.encode(pcm) : new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
    const sent = this.socket.sendAudio(`{"user_audio_chunk":"${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")}"}`);
    mediaProbe?.onCallerForwarded(this, pcm);
    return sent;
  }

  /** Our own marks only: a tool call whose preceding audio has now played runs. */
  sendMarkPlayed(name: string): void {
    this.runner.markPlayed(name);
  }

  /** A key the caller pressed: told to the agent as context, without making it answer each key. */
  sendDtmf(digit: string): void {
    this.send({ type: "contextual_update", text: `The caller pressed ${digit} on the keypad.` });
  }

  close(reason: string): void {
    this.closed = true;
    this.dial.abort();
    this.runner.close();
    this.metadata?.reject(new Error("the stream closed while ElevenLabs was dialled"));
    this.socket?.close(reason);
  }

  private onDropped(drop: Parameters<PipelineHandlers["onDropped"]>[0]): void {
    if (this.metadata) return this.metadata.reject(new Error(`ElevenLabs closed the conversation before it started (${drop.code}${drop.reason ? ` ${drop.reason}` : ""})`));
    this.on.onDropped(drop);
  }

  private onEvent(raw: string): void {
    const parsed = parseEvent(raw);
    if (!parsed) return;
    if ("problem" in parsed) return this.on.onBadMessage(parsed.problem);
    const e = parsed.event;
    switch (parsed.type) {
      case "conversation_initiation_metadata":
        return this.onMetadata(e as ServerEvent<"conversation_initiation_metadata">);
      case "audio":
        return this.onAudio(e as ServerEvent<"audio">);
      case "interruption":
        return this.onInterruption(e as ServerEvent<"interruption">);
      case "ping":
        return this.send({ type: "pong", event_id: (e as ServerEvent<"ping">).ping_event.event_id });
      case "agent_response":
        return this.on.onTranscript("agent", (e as ServerEvent<"agent_response">).agent_response_event.agent_response);
      case "agent_response_correction":
        // After an interruption: the reply as far as the agent thinks it got, a line of its own.
        return this.on.onTranscript("agent", (e as ServerEvent<"agent_response_correction">).agent_response_correction_event.corrected_agent_response);
      case "user_transcript":
        return this.on.onTranscript("caller", (e as ServerEvent<"user_transcript">).user_transcription_event.user_transcript);
      case "client_tool_call": {
        const c = (e as ServerEvent<"client_tool_call">).client_tool_call;
        const reply = (o: ToolOutcome) => this.send({ type: "client_tool_result", tool_call_id: c.tool_call_id, result: o.ok ? "done" : o.error, is_error: !o.ok });
        return this.runner.request(c.tool_name, c.parameters ?? {}, reply);
      }
      case "error": {
        const ev = e as ServerEvent<"error">;
        return this.on.onNote({ code: ev.error_event?.code ?? null, message: (ev.error_event?.message ?? ev.message ?? "").slice(0, 300) }, "elevenlabs: error event");
      }
    }
  }

  private onAudio(e: ServerEvent<"audio">): void {
    const { event_id: id, audio_base_64: b64 } = e.audio_event;
    // Audio of a reply the caller talked over may still be in flight: it must not play.
    if (id < this.interruptedAt || !this.formats) return;
    this.lastAudioId = Math.max(this.lastAudioId, id);
    const bytes = Buffer.from(b64, "base64");
    let pcm: Int16Array;
    if (this.formats.output.encoding === "mulaw") pcm = alawmulaw.mulaw.decode(bytes);
    else {
      if (bytes.length % 2) return this.on.onBadMessage("audio: PCM16 with an odd number of bytes");
      pcm = new Int16Array(Uint8Array.from(bytes).buffer);
    }
    // A new turn once the last one has all played out (or was cut).
    const p = this.on.playout;
    if (!this.turn || p.playingSamples() >= this.turn.startAt + this.turn.samples) this.turn = { startAt: p.pushedSamples, samples: 0 };
    this.turn.samples += pcm.length;
    this.on.onAudio(pcm);
  }

  /**
   * The agent heard the caller: stop it at once. ElevenLabs has no call to say how much was heard
   * (it corrects its transcript by its own reckoning), so the host logs it, from what the page
   * consumed, not what arrived.
   */
  private onInterruption(e: ServerEvent<"interruption">): void {
    const turn = this.turn;
    const heard = turn ? Math.max(0, Math.min(turn.samples, this.on.playout.playingSamples() - turn.startAt)) : 0;
    this.on.onClear();
    this.interruptedAt = Math.max(this.interruptedAt, e.interruption_event?.event_id ?? this.lastAudioId + 1);
    this.turn = undefined;
    if (!turn || heard >= turn.samples) return;
    const ms = (n: number) => Math.round((n * 1000) / this.sampleRate);
    this.on.onNote({ heardMs: ms(heard), receivedMs: ms(turn.samples), eventId: this.interruptedAt }, "elevenlabs: the caller spoke over the agent; heard this much of its reply");
  }
}

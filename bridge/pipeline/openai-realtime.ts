import alawmulaw from "alawmulaw";
import { mediaProbe } from "../probe.ts";
import { TOOLS_HINT, TOOLS_PATTERN, ToolRunner, toolsOf, type ToolName, type ToolOutcome } from "./call-tools.ts";
import { SERVER_EVENTS, parseArguments, toolDefinitions, type ServerEvent, type ServerEventType } from "./openai-events.ts";
import type { PipelineProfile, PipelineProtocol } from "./protocol.ts";
import type { PipelineHandlers, PipelineOptions, PipelineSession, StreamInfo } from "./session.ts";
import { PipelineSocket } from "./socket.ts";

const DEFAULT_URL = "wss://api.openai.com/v1/realtime";
/** Item ids whose audio was cut at a barge-in: their late deltas are dropped. A few suffice. */
const CUT_ITEMS_KEPT = 16;

export const openaiRealtimeProtocol: PipelineProtocol = {
  name: "openai-realtime",
  summary: "openai-realtime (OpenAI's Realtime API, straight to the model)",
  urlSetting: "OPENAI_REALTIME_URL",
  settings: {
    OPENAI_API_KEY: { pattern: /^\S{8,}$/, required: true, secret: true, hint: "your OpenAI API key (sk-…), needed with PIPELINE_PROTOCOL=openai-realtime" },
    OPENAI_REALTIME_URL: { pattern: /^wss?:\/\/\S+$/, default: DEFAULT_URL, hint: "the Realtime WebSocket URL (ws:// or wss://), e.g. wss://api.openai.com/v1/realtime" },
    OPENAI_MODEL: { pattern: /^[\w.-]{1,64}$/, default: "gpt-realtime", perCall: true, hint: "the Realtime model, e.g. gpt-realtime" },
    OPENAI_VOICE: { pattern: /^[\w-]{1,32}$/, default: "marin", perCall: true, hint: "the voice, e.g. marin, cedar or alloy" },
    OPENAI_INSTRUCTIONS: { pattern: /^[^]{1,16000}$/, default: "You are a friendly voice assistant answering a phone call. Keep answers short.", perCall: true, hint: "the system instructions, up to 16000 characters" },
    OPENAI_TOOLS: { pattern: TOOLS_PATTERN, default: "hang_up", perCall: true, hint: `the call control the model may use, ${TOOLS_HINT}` },
    // pcmu: the call stays G.711 end to end; pcm24k: Opus calls, 24 kHz PCM16 both ways (no resampling in the host).
    OPENAI_AUDIO: { values: ["pcmu", "pcm24k"], default: "pcmu", hint: "pcmu keeps calls on G.711 μ-law (8 kHz); pcm24k is 24 kHz PCM16 with Opus calls" },
  },
  profile: (v) => ({ protocol: "openai-realtime", encoding: v.OPENAI_AUDIO === "pcm24k" ? "l16" : "mulaw", sampleRate: v.OPENAI_AUDIO === "pcm24k" ? 24000 : 8000, options: v }),
  createSession: (profile, opts, handlers) => new OpenAiRealtimeSession(opts, profile, handlers),
};

/** The agent's item now playing: where its first sample sits in the playout, and how much of it came. */
interface AgentItem {
  id: string;
  startAt: number;
  samples: number;
}

/**
 * OpenAI's Realtime API as a pipeline (GA events): session.update, caller audio as
 * input_audio_buffer.append, the model's audio into the playout, server VAD barge-in with
 * conversation.item.truncate at what the caller heard, transcripts, and call control as tools.
 */
export class OpenAiRealtimeSession implements PipelineSession {
  readonly sampleRate: number;
  private readonly socket: PipelineSocket;
  private readonly options: Readonly<Record<string, string>>;
  private readonly tools: ToolName[];
  private item: AgentItem | undefined;
  private readonly cut: string[] = [];
  private readonly runner: ToolRunner;

  constructor(
    opts: PipelineOptions,
    private readonly profile: PipelineProfile,
    private readonly on: PipelineHandlers,
  ) {
    this.sampleRate = profile.sampleRate;
    this.options = profile.options ?? {};
    this.tools = toolsOf(this.options.OPENAI_TOOLS);
    this.runner = new ToolRunner("openai", this.tools, on);
    const url = new URL(opts.url);
    if (!url.searchParams.has("model")) url.searchParams.set("model", this.options.OPENAI_MODEL ?? "gpt-realtime");
    this.socket = new PipelineSocket(
      { ...opts, url: url.toString(), headers: { ...opts.headers, Authorization: `Bearer ${this.options.OPENAI_API_KEY ?? ""}` } },
      { onMessage: (data, isBinary) => (isBinary ? on.onBadMessage("binary frame from OpenAI (JSON events expected)") : this.onEvent(data.toString())), onDropped: (drop) => on.onDropped(drop) },
    );
  }

  get rttMs(): number | undefined {
    return this.socket.rttMs;
  }

  private get format(): Record<string, unknown> {
    return this.profile.encoding === "mulaw" ? { type: "audio/pcmu" } : { type: "audio/pcm", rate: 24000 };
  }

  async open(info: StreamInfo): Promise<void> {
    try {
      await this.socket.open();
    } catch (err) {
      const status = (err as { status?: number }).status;
      if (status === 401 || status === 403) throw new Error(`OpenAI refused the API key (HTTP ${status}): check OPENAI_API_KEY`);
      throw err;
    }
    const o = this.options;
    this.send({
      type: "session.update",
      session: {
        type: "realtime",
        model: o.OPENAI_MODEL,
        instructions: `${o.OPENAI_INSTRUCTIONS}\n\nThis is a phone call (${info.direction}) from ${info.from} to ${info.to}.`,
        output_modalities: ["audio"],
        audio: {
          input: { format: this.format, turn_detection: { type: "server_vad" }, transcription: { model: "gpt-4o-mini-transcribe" } },
          output: { format: this.format, voice: o.OPENAI_VOICE },
        },
        tools: toolDefinitions(this.tools),
        tool_choice: this.tools.length ? "auto" : "none",
      },
    });
    // The agent speaks first, as a person answering a phone does.
    this.send({ type: "response.create" });
  }

  private send(event: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(event));
  }

  sendCallerAudio(pcm: Int16Array): boolean {
    const bytes = this.profile.encoding === "mulaw" ? alawmulaw.mulaw.encode(pcm) : new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
    const sent = this.socket.sendAudio(`{"type":"input_audio_buffer.append","audio":"${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")}"}`);
    mediaProbe?.onCallerForwarded(this, pcm);
    return sent;
  }

  /** Our own marks only: a tool call whose preceding audio has now played runs. */
  sendMarkPlayed(name: string): void {
    this.runner.markPlayed(name);
  }

  /** A key the caller pressed, told to the model as part of the conversation. */
  sendDtmf(digit: string): void {
    this.send({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text: `(the caller pressed ${digit} on the keypad)` }] } });
  }

  close(reason: string): void {
    this.runner.close();
    this.socket.close(reason);
  }

  private onEvent(text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return this.on.onBadMessage("event is not JSON");
    }
    const type = (msg as { type?: unknown } | null)?.type;
    if (typeof type !== "string") return this.on.onBadMessage("event without a type");
    if (!Object.hasOwn(SERVER_EVENTS, type)) return; // session.created, response.done, rate_limits.updated, …
    const parsed = SERVER_EVENTS[type as ServerEventType].safeParse(msg);
    if (!parsed.success) return this.on.onBadMessage(`${type}: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`);
    const e = parsed.data;
    switch (type as ServerEventType) {
      case "response.output_audio.delta":
        return this.onAudioDelta(e as ServerEvent<"response.output_audio.delta">);
      case "input_audio_buffer.speech_started":
        return this.onSpeechStarted();
      case "response.output_audio_transcript.done":
        return this.on.onTranscript("agent", (e as ServerEvent<"response.output_audio_transcript.done">).transcript);
      case "conversation.item.input_audio_transcription.completed":
        return this.on.onTranscript("caller", (e as ServerEvent<"conversation.item.input_audio_transcription.completed">).transcript);
      case "response.function_call_arguments.done":
        return this.onFunctionCall(e as ServerEvent<"response.function_call_arguments.done">);
      case "error": {
        const { code, message } = (e as ServerEvent<"error">).error;
        return this.on.onNote({ code: code ?? null, message: message.slice(0, 300) }, "openai: error event");
      }
    }
  }

  private onAudioDelta(e: ServerEvent<"response.output_audio.delta">): void {
    // Audio of an item the caller talked over may still be in flight: it must not play.
    if (this.cut.includes(e.item_id)) return;
    const bytes = Buffer.from(e.delta, "base64");
    let pcm: Int16Array;
    if (this.profile.encoding === "mulaw") pcm = alawmulaw.mulaw.decode(bytes);
    else {
      if (bytes.length % 2) return this.on.onBadMessage("response.output_audio.delta: PCM16 with an odd number of bytes");
      pcm = new Int16Array(Uint8Array.from(bytes).buffer);
    }
    if (this.item?.id !== e.item_id) this.item = { id: e.item_id, startAt: this.on.playout.pushedSamples, samples: 0 };
    this.item.samples += pcm.length;
    this.on.onAudio(pcm);
  }

  /**
   * Server VAD heard the caller: stop the agent at once, and tell OpenAI how much of its item the
   * caller actually heard, from what the page consumed (not what arrived), so the model's memory
   * of the conversation ends where the caller's did.
   */
  private onSpeechStarted(): void {
    const item = this.item;
    const heard = item ? Math.max(0, Math.min(item.samples, this.on.playout.playingSamples() - item.startAt)) : 0;
    this.on.onClear();
    if (!item || heard >= item.samples) return;
    this.item = undefined;
    this.cut.push(item.id);
    if (this.cut.length > CUT_ITEMS_KEPT) this.cut.shift();
    const audioEndMs = Math.round((heard * 1000) / this.sampleRate);
    this.send({ type: "conversation.item.truncate", item_id: item.id, content_index: 0, audio_end_ms: audioEndMs });
    this.on.onNote({ itemId: item.id, audioEndMs, receivedMs: Math.round((item.samples * 1000) / this.sampleRate) }, "openai: the caller spoke over the agent, item truncated to what was heard");
  }

  /** A tool runs once the audio the model sent before it has played (its goodbye before hang_up). */
  private onFunctionCall(e: ServerEvent<"response.function_call_arguments.done">): void {
    const args = parseArguments(e.arguments);
    const reply = (output: ToolOutcome) => {
      this.send({ type: "conversation.item.create", item: { type: "function_call_output", call_id: e.call_id, output: JSON.stringify(output) } });
      this.send({ type: "response.create" });
    };
    // Unparsable arguments still wait their turn, so outcomes come back in the order of the calls.
    this.runner.request(e.name, args.ok ? args.value : undefined, reply, args.ok ? undefined : args.error);
  }
}

/**
 * What the elevenlabs profile reads from ElevenLabs' Agents Platform (Conversational AI) WebSocket,
 * and the audio formats it can carry. Only the events the profile acts on are described; any other
 * type is ignored, and a known type with the wrong shape is a bad message, never a crash.
 */
import { z } from "zod";
import type { PipelineProfile, SampleRate } from "./protocol.ts";

const eventId = z.number().int().nonnegative();
const text = z.string().max(20_000);

export const SERVER_EVENTS = {
  conversation_initiation_metadata: z.object({
    conversation_initiation_metadata_event: z.object({ conversation_id: z.string().max(256).optional(), agent_output_audio_format: z.string().max(32), user_input_audio_format: z.string().max(32) }),
  }),
  audio: z.object({ audio_event: z.object({ audio_base_64: z.string(), event_id: eventId }) }),
  interruption: z.object({ interruption_event: z.object({ event_id: eventId.optional(), reason: z.string().optional() }).optional() }),
  ping: z.object({ ping_event: z.object({ event_id: eventId, ping_ms: z.number().nullish() }) }),
  agent_response: z.object({ agent_response_event: z.object({ agent_response: text }) }),
  agent_response_correction: z.object({ agent_response_correction_event: z.object({ original_agent_response: text.optional(), corrected_agent_response: text }) }),
  user_transcript: z.object({ user_transcription_event: z.object({ user_transcript: text }) }),
  client_tool_call: z.object({
    client_tool_call: z.object({ tool_name: z.string().max(64), tool_call_id: z.string().min(1).max(256), parameters: z.record(z.string(), z.unknown()).optional() }),
  }),
  error: z.object({ error_event: z.object({ message: z.string().optional(), code: z.union([z.string(), z.number()]).optional() }).optional(), message: z.string().optional() }),
} as const;

export type ServerEventType = keyof typeof SERVER_EVENTS;
export type ServerEvent<T extends ServerEventType> = z.infer<(typeof SERVER_EVENTS)[T]>;

/** One parsed event, or why it could not be used; undefined for a type the profile does not act on. */
export function parseEvent(raw: string): { type: ServerEventType; event: unknown } | { problem: string } | undefined {
  let msg: unknown;
  try {
    msg = JSON.parse(raw);
  } catch {
    return { problem: "event is not JSON" };
  }
  const type = (msg as { type?: unknown } | null)?.type;
  if (typeof type !== "string") return { problem: "event without a type" };
  if (!Object.hasOwn(SERVER_EVENTS, type)) return undefined; // vad_score, internal_tentative_agent_response, …
  const parsed = SERVER_EVENTS[type as ServerEventType].safeParse(msg);
  if (!parsed.success) return { problem: `${type}: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}` };
  return { type: type as ServerEventType, event: parsed.data };
}

/** ELEVENLABS_AUDIO: the formats an agent may be set to that the page can run at (no resampling). */
export const AUDIO_FORMATS = ["ulaw_8000", "pcm_8000", "pcm_16000", "pcm_24000", "pcm_48000"] as const;

export interface AudioFormat {
  encoding: PipelineProfile["encoding"];
  rate: SampleRate;
}

/** "ulaw_8000" → μ-law at 8 kHz; "pcm_16000" → PCM16 at 16 kHz; a format the page cannot run at → undefined. */
export function audioFormat(name: string): AudioFormat | undefined {
  if (!(AUDIO_FORMATS as readonly string[]).includes(name)) return undefined;
  const [kind, rate] = name.split("_");
  return { encoding: kind === "ulaw" ? "mulaw" : "l16", rate: Number(rate) as SampleRate };
}

/**
 * The agent's formats against the call's: either the encoding each way, or what to fix. A
 * different encoding at the call's rate is taken as it is (μ-law or PCM16, no resampling); a
 * different rate is refused, as it would be resampled on every frame.
 */
export function agentFormats(call: AudioFormat, input: string, output: string): { input: AudioFormat; output: AudioFormat } | string {
  const inFmt = audioFormat(input);
  const outFmt = audioFormat(output);
  for (const [side, name, fmt] of [["user_input_audio_format", input, inFmt], ["agent_output_audio_format", output, outFmt]] as const) {
    if (!fmt) return `the agent's ${side} is ${name}, which this host cannot carry: set the agent's audio format to one of ${AUDIO_FORMATS.join(", ")}`;
    if (fmt.rate !== call.rate) return `the agent's ${side} is ${name} but ELEVENLABS_AUDIO runs calls at ${call.rate} Hz: set ELEVENLABS_AUDIO=${name} or the agent's audio format to ${call.encoding === "mulaw" ? "ulaw" : "pcm"}_${call.rate}`;
  }
  return { input: inFmt!, output: outFmt! };
}

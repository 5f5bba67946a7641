/**
 * What the openai-realtime profile reads from OpenAI's Realtime API (GA event names), and the call
 * tools (./call-tools.ts) in its function form. Only the events the profile acts on are described; any
 * other type is ignored, and a known type with the wrong shape is a bad message, never a crash.
 */
import { z } from "zod";
import { TOOLS, type ToolName } from "./call-tools.ts";

const itemId = z.string().min(1).max(256);

export const SERVER_EVENTS = {
  "response.output_audio.delta": z.object({ item_id: itemId, delta: z.string() }),
  "input_audio_buffer.speech_started": z.object({ item_id: itemId.optional(), audio_start_ms: z.number().optional() }),
  "response.output_audio_transcript.done": z.object({ item_id: itemId, transcript: z.string() }),
  "conversation.item.input_audio_transcription.completed": z.object({ item_id: itemId, transcript: z.string() }),
  "response.function_call_arguments.done": z.object({ call_id: z.string().min(1).max(128), name: z.string().max(64), arguments: z.string().max(4096) }),
  error: z.object({ error: z.object({ type: z.string().optional(), code: z.string().nullish(), message: z.string() }) }),
} as const;

export type ServerEventType = keyof typeof SERVER_EVENTS;
export type ServerEvent<T extends ServerEventType> = z.infer<(typeof SERVER_EVENTS)[T]>;

/** The session's `tools`, in the Realtime API's function form. */
export function toolDefinitions(tools: readonly ToolName[]): Array<Record<string, unknown>> {
  return tools.map((name) => ({ type: "function", name, description: TOOLS[name].description, parameters: TOOLS[name].parameters }));
}

/** A function call's arguments, a JSON string in the Realtime API: parsed, or why not. */
export function parseArguments(args: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: args.trim() === "" ? {} : JSON.parse(args) };
  } catch {
    return { ok: false, error: "the arguments are not JSON" };
  }
}

/**
 * What the openai-realtime profile reads from OpenAI's Realtime API (GA event names) and the call
 * control it offers the model as tools. Only the events the profile acts on are described; any
 * other type is ignored, and a known type with the wrong shape is a bad message, never a crash.
 */
import { z } from "zod";
import type { PipelineCallAction } from "./session.ts";

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

/** The tools a call may offer (OPENAI_TOOLS, or pipelineSettings per call). */
export const TOOL_NAMES = ["hang_up", "transfer", "send_dtmf"] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

const phone = z.string().regex(/^\+?[0-9*#]{2,20}$/, { message: "a phone number (E.164 like +16505550100) or an extension number" });

/** Each tool: its description for the model, its JSON-schema parameters, and how its arguments become an action. */
export const TOOLS: Record<ToolName, { description: string; parameters: Record<string, unknown>; args: z.ZodType<PipelineCallAction> }> = {
  hang_up: {
    description: "End the phone call. Say goodbye first: the call ends once what you said has been played.",
    parameters: { type: "object", properties: {}, additionalProperties: false },
    args: z.object({}).transform(() => ({ kind: "hangup" as const })),
  },
  transfer: {
    description: "Transfer the caller to another phone number or extension. blind hands the call over at once; warm consults the target first.",
    parameters: {
      type: "object",
      properties: { number: { type: "string", description: "E.164 number like +16505550100, or an extension number" }, mode: { type: "string", enum: ["blind", "warm"] } },
      required: ["number"],
      additionalProperties: false,
    },
    args: z.object({ number: phone, mode: z.enum(["blind", "warm"]).default("blind") }).transform((a) => ({ kind: "transfer" as const, target: a.number, mode: a.mode })),
  },
  send_dtmf: {
    description: "Press keys on the phone keypad (DTMF), e.g. to navigate a phone menu.",
    parameters: {
      type: "object",
      properties: { digits: { type: "string", description: "the keys to press: 0-9, *, #, A-D; at most 32" } },
      required: ["digits"],
      additionalProperties: false,
    },
    args: z.object({ digits: z.string().regex(/^[0-9A-D*#]{1,32}$/, { message: "digits are 0-9, A-D, * or #, at most 32" }) }).transform((a) => ({ kind: "dtmf" as const, digits: a.digits })),
  },
};

/** "hang_up,transfer" → the tool list; "none" or empty → none. The setting's pattern has checked the names. */
export function toolsOf(list: string | undefined): ToolName[] {
  const names = (list ?? "").split(",").map((t) => t.trim()).filter((t) => t && t !== "none");
  return [...new Set(names)].filter((t): t is ToolName => (TOOL_NAMES as readonly string[]).includes(t));
}

/** The session's `tools`, in the Realtime API's function form. */
export function toolDefinitions(tools: readonly ToolName[]): Array<Record<string, unknown>> {
  return tools.map((name) => ({ type: "function", name, description: TOOLS[name].description, parameters: TOOLS[name].parameters }));
}

/** A tool call's arguments (a JSON string) → the action, or why not. */
export function toolAction(name: string, offered: readonly ToolName[], args: string): PipelineCallAction | string {
  if (!(offered as readonly string[]).includes(name)) return `the tool ${name} is not available on this call`;
  let parsed: unknown;
  try {
    parsed = args.trim() === "" ? {} : JSON.parse(args);
  } catch {
    return "the arguments are not JSON";
  }
  const result = TOOLS[name as ToolName].args.safeParse(parsed);
  return result.success ? result.data : result.error.issues.map((i) => `${i.path.join(".") || "arguments"}: ${i.message}`).join("; ");
}

/**
 * Call control as tools, for every connector (openai-realtime, elevenlabs): the tool names a call
 * may offer, each one's arguments and description, and the runner that executes a tool call once
 * the agent audio sent before it has played, through the host's call actions (the REST API's code).
 * Each connector only wraps the request and the reply in its own events.
 */
import { z } from "zod";
import type { PipelineCallAction, PipelineHandlers } from "./session.ts";

/** The tools a call may offer (OPENAI_TOOLS, ELEVENLABS_TOOLS, or pipelineSettings per call). */
export const TOOL_NAMES = ["hang_up", "transfer", "send_dtmf"] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

/** A tools setting's pattern: a comma-separated list of TOOL_NAMES, or none. */
export const TOOLS_PATTERN = new RegExp(`^(none|(${TOOL_NAMES.join("|")})(,(${TOOL_NAMES.join("|")}))*)$`);
export const TOOLS_HINT = `comma-separated from ${TOOL_NAMES.join(", ")}, or none`;

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

/** A tool call's (parsed) arguments → the action, or why not. */
export function toolAction(name: string, offered: readonly ToolName[], args: unknown): PipelineCallAction | string {
  if (!(offered as readonly string[]).includes(name)) return `the tool ${name} is not available on this call`;
  const result = TOOLS[name as ToolName].args.safeParse(args ?? {});
  return result.success ? result.data : result.error.issues.map((i) => `${i.path.join(".") || "arguments"}: ${i.message}`).join("; ");
}

export type ToolOutcome = { ok: true } | { ok: false; error: string };

/**
 * Runs a connector's tool calls: each waits for a mark placed after the audio the agent sent
 * before it (so a goodbye is heard before hang_up; a barge-in's clear releases the mark), then
 * goes to the host as the REST API's action. `reply` gets the outcome unless the stream closed
 * meanwhile (a hang-up or a transfer leaves no one to tell).
 */
export class ToolRunner {
  private readonly waiting = new Map<string, { name: string; args: unknown; badArgs?: string; reply: (outcome: ToolOutcome) => void }>();
  private closed = false;
  private seq = 0;

  constructor(
    private readonly connector: string,
    private readonly offered: readonly ToolName[],
    private readonly on: PipelineHandlers,
  ) {}

  /** A tool call from the agent: queued behind the audio already pushed. `badArgs`: why its arguments could not be read (it is refused, in its turn). */
  request(name: string, args: unknown, reply: (outcome: ToolOutcome) => void, badArgs?: string): void {
    const mark = `${this.connector}-tool-${++this.seq}`;
    this.waiting.set(mark, { name, args, badArgs, reply });
    this.on.onMark(mark);
  }

  /** A played mark: true when it was one of ours (its tool runs now). */
  markPlayed(mark: string): boolean {
    const call = this.waiting.get(mark);
    if (!call) return false;
    this.waiting.delete(mark);
    void this.run(call.name, call.args, call.badArgs, call.reply);
    return true;
  }

  close(): void {
    this.closed = true;
    this.waiting.clear();
  }

  private async run(name: string, args: unknown, badArgs: string | undefined, reply: (outcome: ToolOutcome) => void): Promise<void> {
    const action = toolAction(name, this.offered, args);
    if (badArgs !== undefined && typeof action !== "string") return this.finish(name, { ok: false, error: badArgs }, reply);
    let outcome: ToolOutcome;
    if (typeof action === "string") outcome = { ok: false, error: action };
    else {
      this.on.onNote({ tool: name, action: action.kind }, `${this.connector}: tool call`);
      outcome = await this.on.onCallAction(action).then(
        () => ({ ok: true as const }),
        (err: Error) => ({ ok: false as const, error: err.message }),
      );
    }
    this.finish(name, outcome, reply);
  }

  private finish(name: string, outcome: ToolOutcome, reply: (outcome: ToolOutcome) => void): void {
    if (!outcome.ok) this.on.onNote({ tool: name, error: outcome.error }, `${this.connector}: tool call refused`);
    if (!this.closed) reply(outcome);
  }
}

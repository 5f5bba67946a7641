/**
 * The pipeline protocols the host speaks: the one list. A new protocol is one file exporting a
 * PipelineProtocol (see ./protocol.ts) plus one line here (docs/ARCHITECTURE.md shows the diff).
 */
import { elevenlabsProtocol } from "./elevenlabs.ts";
import { l16Protocol } from "./l16.ts";
import { openaiRealtimeProtocol } from "./openai-realtime.ts";
import type { PipelineProfile, PipelineProtocol } from "./protocol.ts";
import type { PipelineHandlers, PipelineOptions, PipelineSession } from "./session.ts";
import { twilioProtocol } from "./twilio.ts";

export const PROTOCOLS: readonly PipelineProtocol[] = [twilioProtocol, l16Protocol, openaiRealtimeProtocol, elevenlabsProtocol];

export function protocolNamed(name: string): PipelineProtocol | undefined {
  return PROTOCOLS.find((p) => p.name === name);
}

export function createPipelineSession(profile: PipelineProfile, opts: PipelineOptions, handlers: PipelineHandlers): PipelineSession {
  const protocol = protocolNamed(profile.protocol);
  if (!protocol) throw new Error(`unknown pipeline protocol ${profile.protocol}`);
  return protocol.createSession(profile, opts, handlers);
}

/** An 8 kHz pipeline gains nothing from Opus: PCMU carries its audio as is, with no Opus work at all. */
export function profileWantsPcmu(profile: PipelineProfile): boolean {
  return profile.sampleRate === 8000;
}

export type { PipelineProfile, PipelineProtocol, ProtocolSetting, SampleRate } from "./protocol.ts";
export type { PipelineSession, PipelineHandlers, PipelineOptions, PipelineCallAction, StreamInfo } from "./session.ts";
export type { DropKind, PipelineDrop } from "./socket.ts";

/**
 * A call's profile with per-call settings (POST /calls pipelineSettings) merged in, or the problems
 * found: only the protocol's `perCall` settings, each checked as its variable is.
 */
export function profileWith(profile: PipelineProfile, overrides: Readonly<Record<string, string>> | undefined): PipelineProfile | string[] {
  if (!overrides || Object.keys(overrides).length === 0) return profile;
  const settings = protocolNamed(profile.protocol)?.settings ?? {};
  const problems: string[] = [];
  for (const [name, value] of Object.entries(overrides)) {
    const s = Object.hasOwn(settings, name) ? settings[name] : undefined;
    if (!s?.perCall) problems.push(`${name} cannot be set per call with PIPELINE_PROTOCOL=${profile.protocol}`);
    else if (s.values ? !s.values.includes(value) : !(s.pattern ?? /[^]*/).test(value)) problems.push(`${name} is not valid: ${s.hint}`);
  }
  return problems.length ? problems : { ...profile, options: { ...profile.options, ...overrides } };
}

/**
 * The pipeline protocols the host speaks: the one list. A new protocol is one file exporting a
 * PipelineProtocol (see ./protocol.ts) plus one line here (docs/ARCHITECTURE.md shows the diff).
 */
import { l16Protocol } from "./l16.ts";
import type { PipelineProfile, PipelineProtocol } from "./protocol.ts";
import type { PipelineHandlers, PipelineOptions, PipelineSession } from "./session.ts";
import { twilioProtocol } from "./twilio.ts";

export const PROTOCOLS: readonly PipelineProtocol[] = [twilioProtocol, l16Protocol];

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
export type { PipelineSession, PipelineHandlers, PipelineOptions, StreamInfo } from "./session.ts";
export type { DropKind, PipelineDrop } from "./socket.ts";

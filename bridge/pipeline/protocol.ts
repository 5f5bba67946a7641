import type { PipelineHandlers, PipelineOptions, PipelineSession } from "./session.ts";

/** What a pipeline stream carries both ways, whatever its envelope. */
export interface PipelineProfile {
  /** The protocol's name: PIPELINE_PROTOCOL's value. */
  protocol: string;
  /** μ-law (G.711) or linear PCM16 on the wire. */
  encoding: "mulaw" | "l16";
  /** The rate both directions use; the page's audio graph runs at it, so nothing is resampled. */
  sampleRate: SampleRate;
}

export type SampleRate = 8000 | 16000 | 24000 | 48000;

/** One PIPELINE_* variable a protocol reads: its allowed values, default, and a hint for errors. */
export interface ProtocolSetting {
  values: readonly string[];
  default: string;
  hint: string;
}

/**
 * Everything the host knows of one pipeline protocol. Each protocol file exports one of these;
 * ./index.ts lists them. Configuration, the page's rate and codec, and the stream all come from here.
 */
export interface PipelineProtocol {
  name: string;
  /** One line for PIPELINE_PROTOCOL's error message and the docs. */
  summary: string;
  /** The PIPELINE_* variables it reads (checked whatever protocol is chosen, as a typo is a typo). */
  settings: Readonly<Record<string, ProtocolSetting>>;
  /** The profile from its settings' (validated) values. */
  profile(values: Readonly<Record<string, string>>): PipelineProfile;
  createSession(profile: PipelineProfile, opts: PipelineOptions, handlers: PipelineHandlers): PipelineSession;
}

import type { PipelineHandlers, PipelineOptions, PipelineSession } from "./session.ts";

/** What a pipeline stream carries both ways, whatever its envelope. */
export interface PipelineProfile {
  /** The protocol's name: PIPELINE_PROTOCOL's value. */
  protocol: string;
  /** μ-law (G.711) or linear PCM16 on the wire. */
  encoding: "mulaw" | "l16";
  /** The rate both directions use; the page's audio graph runs at it, so nothing is resampled. */
  sampleRate: SampleRate;
  /** The protocol's own free settings (e.g. openai-realtime's key and model), by variable name; per call, overrides merged in. */
  options?: Readonly<Record<string, string>>;
}

export type SampleRate = 8000 | 16000 | 24000 | 48000;

/**
 * One variable a protocol reads: its allowed values (or a pattern, for free text), default, and a
 * hint for errors. Free settings land in the profile's `options`.
 */
export interface ProtocolSetting {
  /** The allowed values; absent: free text checked against `pattern`. */
  values?: readonly string[];
  pattern?: RegExp;
  /** Absent: optional (free settings only); `required` says it must be set when this protocol is chosen. */
  default?: string;
  required?: boolean;
  /** Never echoed, logged or sent to the page; redacted in config output. */
  secret?: boolean;
  /** A POST /calls body may override it for one call (pipelineSettings). */
  perCall?: boolean;
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
  /** The setting that holds its URL (with a default) instead of PIPELINE_URL, for a protocol with a home of its own. */
  urlSetting?: string;
  /** The profile from its settings' (validated) values. */
  profile(values: Readonly<Record<string, string>>): PipelineProfile;
  createSession(profile: PipelineProfile, opts: PipelineOptions, handlers: PipelineHandlers): PipelineSession;
}

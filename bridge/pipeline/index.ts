import type { PipelineHandlers, PipelineOptions, PipelineSession } from "./session.ts";
import { L16Session, type L16Rate } from "./l16.ts";
import { TwilioSession, type TwilioAudio } from "./twilio.ts";

export type PipelineProfile = { protocol: "twilio"; audio: TwilioAudio } | { protocol: "l16"; sampleRate: L16Rate };

/** The one place that knows every profile. */
export function createPipelineSession(profile: PipelineProfile, opts: PipelineOptions, handlers: PipelineHandlers): PipelineSession {
  switch (profile.protocol) {
    case "twilio":
      return new TwilioSession(opts, profile.audio, handlers);
    case "l16":
      return new L16Session(opts, profile.sampleRate, handlers);
  }
}

/** An 8 kHz pipeline gains nothing from Opus: PCMU carries its audio as is, with no Opus work at all. */
export function profileWantsPcmu(profile: PipelineProfile): boolean {
  return profileSampleRate(profile) === 8000;
}

/** The sample rate the page's audio graph runs at for a profile. */
export function profileSampleRate(profile: PipelineProfile): number {
  return profile.protocol === "twilio" ? profile.audio.sampleRate : profile.sampleRate;
}

export type { PipelineSession, PipelineHandlers, PipelineOptions, StreamInfo } from "./session.ts";

import type { PipelineHandlers, PipelineOptions, PipelineSession } from "./session.ts";
import { TwilioSession, type TwilioAudio } from "./twilio.ts";

export type PipelineProfile = { protocol: "twilio"; audio: TwilioAudio };

/** The one place that knows every profile. */
export function createPipelineSession(profile: PipelineProfile, opts: PipelineOptions, handlers: PipelineHandlers): PipelineSession {
  switch (profile.protocol) {
    case "twilio":
      return new TwilioSession(opts, profile.audio, handlers);
  }
}

/** The sample rate the page's audio graph runs at for a profile. */
export function profileSampleRate(profile: PipelineProfile): number {
  return profile.audio.sampleRate;
}

export type { PipelineSession, PipelineHandlers, PipelineOptions, StreamInfo } from "./session.ts";

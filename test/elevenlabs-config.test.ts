import { describe, expect, it } from "vitest";
import { reportConfigError } from "../host/config-cli.ts";
import { describeConfig, loadConfig } from "../host/config.ts";
import { profileWantsPcmu, profileWith } from "../bridge/pipeline/index.ts";
import { problemsOf } from "./support/config-problems.ts";

const KEY = "xi-config-test-9f8e7d6c5b4a";
const base: NodeJS.ProcessEnv = {
  RINGCENTRAL_CLIENT_ID: "AbCdEf123_-",
  RINGCENTRAL_CLIENT_SECRET: "zz-client-secret-7f3a9c",
  RINGCENTRAL_JWT_TOKEN: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsZWFrLXRlc3QifQ.c2lnbmF0dXJlLWxlYWstOWQ0ZQ",
  PIPELINE_PROTOCOL: "elevenlabs",
  ELEVENLABS_AGENT_ID: "agent_01abc",
};

describe("elevenlabs configuration", () => {
  it("needs no PIPELINE_URL nor a key (a public agent), fills its defaults, and keeps calls on PCMU at 8 kHz", () => {
    const config = loadConfig(base);
    expect(config.pipeline.url).toBe("wss://api.elevenlabs.io/v1/convai/conversation");
    expect(config.pipeline.profile).toMatchObject({ protocol: "elevenlabs", encoding: "mulaw", sampleRate: 8000 });
    expect(config.pipeline.profile.options).toEqual({ ELEVENLABS_AGENT_ID: "agent_01abc", ELEVENLABS_URL: "wss://api.elevenlabs.io/v1/convai/conversation", ELEVENLABS_AUDIO: "ulaw_8000", ELEVENLABS_TOOLS: "hang_up" });
    expect(profileWantsPcmu(config.pipeline.profile)).toBe(true);
  });

  it("ELEVENLABS_AUDIO sets the page's rate: pcm_16000 is Opus calls at 16 kHz, PCM16 both ways", () => {
    const config = loadConfig({ ...base, ELEVENLABS_API_KEY: KEY, ELEVENLABS_AUDIO: "pcm_16000", ELEVENLABS_URL: "ws://127.0.0.1:9/v1/convai/conversation", PIPELINE_URL: "wss://other.example.com/" });
    expect(config.pipeline.url).toBe("ws://127.0.0.1:9/v1/convai/conversation");
    expect(config.pipeline.profile).toMatchObject({ encoding: "l16", sampleRate: 16000 });
    expect(profileWantsPcmu(config.pipeline.profile)).toBe(false);
  });

  it("a missing agent id is one config line and exit 2", () => {
    let printed = "";
    let code = 0;
    try {
      loadConfig({ ...base, ELEVENLABS_AGENT_ID: undefined });
    } catch (err) {
      code = reportConfigError(err, (s) => void (printed += s));
    }
    expect(code).toBe(2);
    expect(printed.trimEnd().split("\n")).toEqual([expect.stringMatching(/^config: ELEVENLABS_AGENT_ID is not set: the agent's id/)]);
  });

  it("bad values are named; the key is never echoed", () => {
    const problems = problemsOf({ ...base, ELEVENLABS_API_KEY: `${KEY} x`, ELEVENLABS_AUDIO: "pcm_44100", ELEVENLABS_TOOLS: "hang_up,launch_rockets", ELEVENLABS_URL: "https://api.elevenlabs.io/v1/convai/conversation" });
    expect(problems).toEqual([
      expect.stringMatching(/^ELEVENLABS_API_KEY is set but is not valid/),
      expect.stringMatching(/^ELEVENLABS_URL is "https:.*", which is not valid/),
      expect.stringMatching(/^ELEVENLABS_AUDIO .*ulaw_8000/),
      expect.stringMatching(/^ELEVENLABS_TOOLS is "hang_up,launch_rockets", which is not valid: .*hang_up, transfer, send_dtmf/),
    ]);
    expect(problems.join("\n")).not.toContain(KEY);
  });

  it("describeConfig redacts the key", () => {
    const text = JSON.stringify(describeConfig(loadConfig({ ...base, ELEVENLABS_API_KEY: KEY })));
    expect(text).not.toContain(KEY);
    expect(text).toContain('"ELEVENLABS_API_KEY":"***"');
    expect(text).toContain('"ELEVENLABS_AGENT_ID":"agent_01abc"');
  });

  it("per-call settings: only the per-call ones, each checked", () => {
    const profile = loadConfig({ ...base, ELEVENLABS_API_KEY: KEY }).pipeline.profile;
    expect(profileWith(profile, { ELEVENLABS_FIRST_MESSAGE: "Hi from Acme.", ELEVENLABS_TOOLS: "send_dtmf", ELEVENLABS_AGENT_ID: "agent_other" })).toMatchObject({
      options: { ELEVENLABS_API_KEY: KEY, ELEVENLABS_FIRST_MESSAGE: "Hi from Acme.", ELEVENLABS_TOOLS: "send_dtmf", ELEVENLABS_AGENT_ID: "agent_other" },
    });
    expect(profileWith(profile, { ELEVENLABS_API_KEY: "xi-other-000000", ELEVENLABS_AUDIO: "pcm_16000", ELEVENLABS_LANGUAGE: "english please", ELEVENLABS_URL: "ws://x/" })).toEqual([
      "ELEVENLABS_API_KEY cannot be set per call with PIPELINE_PROTOCOL=elevenlabs",
      "ELEVENLABS_AUDIO cannot be set per call with PIPELINE_PROTOCOL=elevenlabs",
      expect.stringMatching(/^ELEVENLABS_LANGUAGE is not valid/),
      "ELEVENLABS_URL cannot be set per call with PIPELINE_PROTOCOL=elevenlabs",
    ]);
  });
});

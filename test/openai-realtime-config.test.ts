import { describe, expect, it } from "vitest";
import { reportConfigError } from "../host/config-cli.ts";
import { describeConfig, loadConfig } from "../host/config.ts";
import { profileWith } from "../bridge/pipeline/index.ts";
import { problemsOf } from "./support/config-problems.ts";

const KEY = "sk-proj-config-test-9f8e7d6c5b4a";
const base: NodeJS.ProcessEnv = {
  RINGCENTRAL_CLIENT_ID: "AbCdEf123_-",
  RINGCENTRAL_CLIENT_SECRET: "zz-client-secret-7f3a9c",
  RINGCENTRAL_JWT_TOKEN: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsZWFrLXRlc3QifQ.c2lnbmF0dXJlLWxlYWstOWQ0ZQ",
  PIPELINE_PROTOCOL: "openai-realtime",
};

describe("openai-realtime configuration", () => {
  it("needs no PIPELINE_URL, fills its defaults, and picks PCMU at 8 kHz", () => {
    const config = loadConfig({ ...base, OPENAI_API_KEY: KEY });
    expect(config.pipeline.url).toBe("wss://api.openai.com/v1/realtime");
    expect(config.pipeline.profile).toMatchObject({ protocol: "openai-realtime", encoding: "mulaw", sampleRate: 8000 });
    expect(config.pipeline.profile.options).toMatchObject({ OPENAI_API_KEY: KEY, OPENAI_MODEL: "gpt-realtime", OPENAI_VOICE: "marin", OPENAI_TOOLS: "hang_up", OPENAI_AUDIO: "pcmu" });
  });

  it("uses its own URL, never PIPELINE_URL (the key goes with it)", () => {
    const config = loadConfig({ ...base, OPENAI_API_KEY: KEY, PIPELINE_URL: "wss://other.example.com/media", OPENAI_REALTIME_URL: "ws://127.0.0.1:9/v1/realtime", OPENAI_AUDIO: "pcm24k" });
    expect(config.pipeline.url).toBe("ws://127.0.0.1:9/v1/realtime");
    expect(config.pipeline.profile).toMatchObject({ encoding: "l16", sampleRate: 24000 });
  });

  it("a missing key is one config line and exit 2", () => {
    let printed = "";
    let code = 0;
    try {
      loadConfig(base);
    } catch (err) {
      code = reportConfigError(err, (s) => void (printed += s));
    }
    expect(code).toBe(2);
    expect(printed.trimEnd().split("\n")).toEqual([expect.stringMatching(/^config: OPENAI_API_KEY is not set: your OpenAI API key/)]);
  });

  it("the key is needed only when the protocol is chosen", () => {
    expect(() => loadConfig({ ...base, PIPELINE_PROTOCOL: "twilio", PIPELINE_URL: "wss://a.example.com/" })).not.toThrow();
  });

  it("bad values are named; the key is never echoed", () => {
    const problems = problemsOf({ ...base, OPENAI_API_KEY: `${KEY} x`, OPENAI_TOOLS: "hang_up,launch_rockets", OPENAI_REALTIME_URL: "https://api.openai.com/v1/realtime" });
    expect(problems).toEqual([
      expect.stringMatching(/^OPENAI_API_KEY is set but is not valid/),
      expect.stringMatching(/^OPENAI_REALTIME_URL is "https:.*", which is not valid/),
      expect.stringMatching(/^OPENAI_TOOLS is "hang_up,launch_rockets", which is not valid: .*hang_up, transfer, send_dtmf/),
    ]);
    expect(problems.join("\n")).not.toContain(KEY);
  });

  it("describeConfig redacts the key", () => {
    const text = JSON.stringify(describeConfig(loadConfig({ ...base, OPENAI_API_KEY: KEY })));
    expect(text).not.toContain(KEY);
    expect(text).toContain('"OPENAI_API_KEY":"***"');
    expect(text).toContain('"OPENAI_MODEL":"gpt-realtime"');
  });

  it("per-call settings: only the per-call ones, each checked", () => {
    const profile = loadConfig({ ...base, OPENAI_API_KEY: KEY }).pipeline.profile;
    const merged = profileWith(profile, { OPENAI_INSTRUCTIONS: "Book a table for two.", OPENAI_TOOLS: "hang_up,send_dtmf" });
    expect(merged).toMatchObject({ options: { OPENAI_API_KEY: KEY, OPENAI_INSTRUCTIONS: "Book a table for two.", OPENAI_TOOLS: "hang_up,send_dtmf" } });
    expect(profileWith(profile, { OPENAI_API_KEY: "sk-other", OPENAI_AUDIO: "pcm24k", OPENAI_TOOLS: "rm -rf", NOPE: "x" })).toEqual([
      "OPENAI_API_KEY cannot be set per call with PIPELINE_PROTOCOL=openai-realtime",
      "OPENAI_AUDIO cannot be set per call with PIPELINE_PROTOCOL=openai-realtime",
      expect.stringMatching(/^OPENAI_TOOLS is not valid/),
      "NOPE cannot be set per call with PIPELINE_PROTOCOL=openai-realtime",
    ]);
  });
});

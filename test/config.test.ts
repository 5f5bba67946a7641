import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { problemsOf } from "./support/config-problems.ts";
import { reportConfigError } from "../host/config-cli.ts";
import { ConfigError, describeConfig, loadConfig, loadDotEnv } from "../host/config.ts";
import { createLogger } from "../host/log.ts";

// Distinctive fakes: if any of these shows up in output, a secret leaked.
const SECRET = "zz-client-secret-7f3a9c";
const JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsZWFrLXRlc3QifQ.c2lnbmF0dXJlLWxlYWstOWQ0ZQ";
const PIPE_TOKEN = "pipe-token-55e1b0";

const valid: NodeJS.ProcessEnv = {
  RINGCENTRAL_CLIENT_ID: "AbCdEf123_-",
  RINGCENTRAL_CLIENT_SECRET: SECRET,
  RINGCENTRAL_JWT_TOKEN: JWT,
  PIPELINE_URL: `wss://agent.example.com/media?token=${PIPE_TOKEN}`,
};

const tmp = mkdtempSync(join(tmpdir(), "rc-config-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));


describe("loadConfig", () => {
  it("fills every default", () => {
    const config = loadConfig(valid);
    expect(config).toEqual({
      ringcentral: {
        serverUrl: "https://platform.ringcentral.com",
        clientId: "AbCdEf123_-",
        clientSecret: SECRET,
        jwt: JWT,
        insecureSipTls: false,
      },
      pipeline: {
        url: valid.PIPELINE_URL,
        profile: { protocol: "twilio", encoding: "mulaw", sampleRate: 8000 },
        connectTimeoutMs: 3000,
        downAction: "message",
        dropAction: "hangup",
        playoutLeadMs: 40,
        uplink: "fast",
      },
      chrome: { headless: true },
      http: { host: "127.0.0.1", port: 8080, metricsRequireToken: false },
      answer: { mode: "auto", maxConcurrentCalls: 8, allow: [], deny: [], refusedAction: "ring" },
      webhook: { subscriptionExpiresS: 86400 },
      logLevel: "info",
      sipInfoCachePath: ".cache/sip-info.json",
      drainTimeoutS: 300,
    });
  });

  it("parses explicit values, treating empty as unset", () => {
    const chrome = join(tmp, "chrome");
    writeFileSync(chrome, "");
    const config = loadConfig({
      ...valid,
      RINGCENTRAL_SERVER_URL: "https://platform.devtest.ringcentral.com/",
      RINGCENTRAL_SIP_INSECURE_TLS: "YES",
      PIPELINE_PROTOCOL: "l16",
      PIPELINE_AUDIO: "l16-24000",
      PIPELINE_SAMPLE_RATE: "48000",
      PIPELINE_CONNECT_TIMEOUT_MS: "500",
      UPLINK: "fast",
      HEADLESS: "0",
      CHROME_PATH: chrome,
      HTTP_PORT: "0",
      HTTP_HOST: "0.0.0.0",
      METRICS_REQUIRE_TOKEN: "true",
      API_TOKEN: "api-token-0123456789",
      ANSWER_MODE: "webhook",
      WEBHOOK_PUBLIC_URL: "https://bot.example.com",
      MAX_CONCURRENT_CALLS: "2",
      RECORDINGS_DIR: join(tmp, "recordings"),
      LOG_LEVEL: "debug",
      SIP_INFO_CACHE: "/var/cache/sip.json",
      HTTP_HOST_UNUSED: "ignored",
    });
    expect(config.ringcentral.serverUrl).toBe("https://platform.devtest.ringcentral.com");
    expect(config.ringcentral.insecureSipTls).toBe(true);
    // PIPELINE_AUDIO is checked but belongs to the twilio protocol: the l16 profile takes PIPELINE_SAMPLE_RATE.
    expect(config.pipeline).toMatchObject({ profile: { protocol: "l16", encoding: "l16", sampleRate: 48000 }, connectTimeoutMs: 500, uplink: "fast" });
    expect(config.chrome).toEqual({ headless: false, executablePath: chrome });
    expect(config.http).toEqual({ host: "0.0.0.0", port: 0, metricsRequireToken: true });
    expect(config.answer).toEqual({ mode: "webhook", maxConcurrentCalls: 2, allow: [], deny: [], refusedAction: "ring" });
    expect(config.recordingsDir).toBe(join(tmp, "recordings"));
    expect(config.logLevel).toBe("debug");
    expect(config.sipInfoCachePath).toBe("/var/cache/sip.json");

    expect(loadConfig({ ...valid, RECORDINGS_DIR: "", CHROME_PATH: "  ", HEADLESS: "" })).toMatchObject({ chrome: { headless: true } });
    expect(loadConfig({ ...valid, RECORDINGS_DIR: "" }).recordingsDir).toBeUndefined();
  });

  it.each(["true", "TRUE", "1", "yes", "Yes"])("accepts HEADLESS=%s as true", (v) => {
    expect(loadConfig({ ...valid, HEADLESS: v }).chrome.headless).toBe(true);
  });

  it.each(["false", "False", "0", "no", "NO"])("accepts HEADLESS=%s as false", (v) => {
    expect(loadConfig({ ...valid, HEADLESS: v }).chrome.headless).toBe(false);
  });

  const bad: [string, string][] = [
    ["RINGCENTRAL_SERVER_URL", "ftp://platform.ringcentral.com"],
    ["RINGCENTRAL_SERVER_URL", "platform.ringcentral.com"],
    ["RINGCENTRAL_CLIENT_ID", "has spaces in it"],
    ["RINGCENTRAL_CLIENT_SECRET", "two words"],
    ["RINGCENTRAL_JWT_TOKEN", "only.two"],
    ["RINGCENTRAL_SIP_INSECURE_TLS", "sometimes"],
    ["PIPELINE_URL", "https://agent.example.com/media"],
    ["PIPELINE_URL", "not a url"],
    ["PIPELINE_PROTOCOL", "sip"],
    ["PIPELINE_AUDIO", "opus"],
    ["PIPELINE_SAMPLE_RATE", "44100"],
    ["PIPELINE_CONNECT_TIMEOUT_MS", "3s"],
    ["PIPELINE_CONNECT_TIMEOUT_MS", "0"],
    ["HEADLESS", "maybe"],
    ["HEADLESS", "constructor"],
    ["HTTP_PORT", "65536"],
    ["HTTP_PORT", "-1"],
    ["HTTP_PORT", "80.5"],
    ["HTTP_HOST", "http://localhost"],
    ["CHROME_PATH", "/definitely/not/here/chrome"],
    ["CHROME_PATH", tmpdir()],
    ["CHROME_DEBUG_PORT", "80"],
    ["CHROME_DEBUG_PORT", "9222x"],
    ["ANSWER_MODE", "manual"],
    ["MAX_CONCURRENT_CALLS", "0"],
    ["MAX_CONCURRENT_CALLS", "many"],
    // Bounded by what the code can do: a frame header names 65536 slots, a timer waits at most 2^31-1 ms.
    ["MAX_CONCURRENT_CALLS", "65537"],
    ["PIPELINE_CONNECT_TIMEOUT_MS", "2147483648"],
    ["SUBSCRIPTION_EXPIRES_S", "2592001"],
    ["SUBSCRIPTION_EXPIRES_S", "315360000"],
    ["PLAYOUT_LEAD_MS", "501"],
    ["UPLINK", "rtp"],
    ["ANSWER_MAX_PER_MINUTE", "100001"],
    ["METRICS_REQUIRE_TOKEN", "sometimes"],
    ["LOG_LEVEL", "loud"],
  ];

  it.each(bad)("reports a bad %s (%s) by name", (name, value) => {
    const problems = problemsOf({ ...valid, [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${name} `));
    expect(problems[0]).toContain(": "); // says what to set
  });

  it("takes the largest values the code can do, and wants API_TOKEN for METRICS_REQUIRE_TOKEN", () => {
    const config = loadConfig({ ...valid, MAX_CONCURRENT_CALLS: "65536", PIPELINE_CONNECT_TIMEOUT_MS: "2147483647", SUBSCRIPTION_EXPIRES_S: "2592000", HTTP_PORT: "65535" });
    expect(config.answer.maxConcurrentCalls).toBe(65536);
    expect(config.pipeline.connectTimeoutMs).toBe(2_147_483_647);
    expect(config.webhook.subscriptionExpiresS).toBe(2_592_000);
    expect(problemsOf({ ...valid, METRICS_REQUIRE_TOKEN: "true" })).toEqual([expect.stringMatching(/^METRICS_REQUIRE_TOKEN is true but API_TOKEN is not set: /)]);
  });

  it("reports a RECORDINGS_DIR that is a file", () => {
    const file = join(tmp, "not-a-dir");
    writeFileSync(file, "");
    expect(problemsOf({ ...valid, RECORDINGS_DIR: file })).toEqual([expect.stringMatching(/^RECORDINGS_DIR .*not a directory/)]);
    mkdirSync(join(tmp, "rec"), { recursive: true });
    expect(loadConfig({ ...valid, RECORDINGS_DIR: join(tmp, "rec") }).recordingsDir).toBe(join(tmp, "rec"));
  });

  it("requires the credentials and the pipeline URL", () => {
    expect(problemsOf({})).toEqual([
      "RINGCENTRAL_CLIENT_ID is not set: copy it from your app in the RingCentral developer console",
      "RINGCENTRAL_CLIENT_SECRET is not set: copy it from your app in the RingCentral developer console",
      expect.stringMatching(/^RINGCENTRAL_JWT_TOKEN is not set: /),
      expect.stringMatching(/^PIPELINE_URL is not set: /),
    ]);
  });

  it("reports several problems together", () => {
    const problems = problemsOf({ ...valid, HTTP_PORT: "http", HEADLESS: "perhaps", LOG_LEVEL: "chatty", RINGCENTRAL_JWT_TOKEN: undefined });
    expect(problems.map((p) => p.split(" ")[0]).sort()).toEqual(["HEADLESS", "HTTP_PORT", "LOG_LEVEL", "RINGCENTRAL_JWT_TOKEN"]);
  });

  it("makes the credentials optional for the demo, still checking them when set", () => {
    const config = loadConfig({ PIPELINE_URL: "ws://127.0.0.1:9000" }, { requireCredentials: false });
    expect(config.ringcentral.clientId).toBeUndefined();
    expect(config.ringcentral.jwt).toBeUndefined();
    expect(() => loadConfig({ PIPELINE_URL: "ws://127.0.0.1:9000", RINGCENTRAL_JWT_TOKEN: "nope" }, { requireCredentials: false })).toThrow(ConfigError);
    expect(() => loadConfig({}, { requireCredentials: false })).toThrow(/PIPELINE_URL is not set/);
  });
});

describe("secrets", () => {
  const leaks = (text: string) => [SECRET, JWT, PIPE_TOKEN, "c2lnbmF0dXJl"].filter((s) => text.includes(s));

  it("never appear in problem messages", () => {
    const problems = problemsOf({
      RINGCENTRAL_CLIENT_SECRET: `${SECRET} trailing`,
      RINGCENTRAL_JWT_TOKEN: `Bearer ${JWT}`,
      PIPELINE_URL: `https://agent.example.com/?token=${PIPE_TOKEN}`,
    });
    expect(problems.length).toBeGreaterThanOrEqual(3);
    const text = problems.join("\n");
    expect(leaks(text)).toEqual([]);
    expect(text).toMatch(/RINGCENTRAL_CLIENT_SECRET is set but/);
    expect(text).toMatch(/RINGCENTRAL_JWT_TOKEN is set but/);
    expect(text).toMatch(/PIPELINE_URL is set but/);

    let printed = "";
    try {
      loadConfig({ RINGCENTRAL_CLIENT_SECRET: `${SECRET} x`, RINGCENTRAL_JWT_TOKEN: `${JWT}.extra` });
    } catch (err) {
      expect(reportConfigError(err, (s) => { printed += s; })).toBe(2);
      expect(leaks(String(err))).toEqual([]);
    }
    expect(printed.trimEnd().split("\n").every((line) => line.startsWith("config: "))).toBe(true);
    expect(leaks(printed)).toEqual([]);
  });

  it("are redacted by describeConfig", () => {
    const described = JSON.stringify(describeConfig(loadConfig(valid)));
    expect(leaks(described)).toEqual([]);
    expect(described).toContain(`"jwt":"*** (${JWT.length} chars)"`);
    expect(described).toContain("wss://agent.example.com/media?token=***");
    expect(described).toContain("AbCdEf123_-"); // the client ID is not a secret, and helps support
  });
});

describe("reportConfigError", () => {
  it("prints one line for other errors and returns 1", () => {
    let out = "";
    expect(reportConfigError(new Error("disk on fire\n    at somewhere (x.ts:1:1)"), (s) => { out += s; })).toBe(1);
    expect(out).toBe("config: disk on fire\n");
  });
});

describe("loadDotEnv", () => {
  it("loads a .env without overriding the environment", () => {
    const file = join(tmp, ".env");
    writeFileSync(file, "HTTP_PORT=9999\nLOG_LEVEL=debug\n# comment\nPIPELINE_URL=ws://from-file\n");
    const env: NodeJS.ProcessEnv = { HTTP_PORT: "8081", PIPELINE_URL: "" };
    const result = loadDotEnv(file, env);
    expect(result).toEqual({ path: file, applied: ["LOG_LEVEL"] });
    expect(env).toEqual({ HTTP_PORT: "8081", LOG_LEVEL: "debug", PIPELINE_URL: "" });
  });

  it("does nothing when the file is absent", () => {
    const env: NodeJS.ProcessEnv = {};
    expect(loadDotEnv(join(tmp, "missing.env"), env)).toBeUndefined();
    expect(env).toEqual({});
  });
});

describe("createLogger", () => {
  it("writes JSON lines with secrets redacted wherever they sit", () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done(); } });
    const log = createLogger("info", { destination: sink });

    log.info({ sipInfo: { username: "1650", password: SECRET }, call: { auth: { jwt: JWT } } }, "registered");
    log.info({ req: { headers: { authorization: `Bearer ${JWT}`, "set-cookie": [SECRET] } }, oauth: { access_token: SECRET, refresh_token: SECRET } }, "token");
    log.child({ clientSecret: SECRET }).warn({ a: { b: { c: { d: { password: SECRET } } } } }, "deep");
    log.debug({ password: SECRET }, "below level");

    expect(lines).toHaveLength(3);
    const all = lines.join("");
    expect(all).not.toContain(SECRET);
    expect(all).not.toContain(JWT);

    const first = JSON.parse(lines[0]) as Record<string, unknown>;
    expect(first).toMatchObject({ level: "info", service: "rc-voice-host", msg: "registered", sipInfo: { username: "1650", password: "***" }, call: { auth: { jwt: "***" } } });
    expect(first.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });
});

describe("answering rules and webhook settings", () => {
  it("turns caller patterns into anchored matchers and keeps the webhook token secret", () => {
    const config = loadConfig({
      ...valid,
      ANSWER_ALLOW: "+1650*, 101",
      ANSWER_DENY: "+1650555*",
      ANSWER_MAX_PER_MINUTE: "30",
      ANSWER_REFUSED_ACTION: "decline",
      WEBHOOK_PUBLIC_URL: "https://bot.example.com/",
      WEBHOOK_VERIFICATION_TOKEN: "tok-0123456789abcdef",
    });
    expect(config.answer.allow.map((r) => r.test("+16505551212"))).toEqual([true, false]);
    expect(config.answer.allow[1].test("101")).toBe(true);
    expect(config.answer.allow[1].test("1011")).toBe(false);
    expect(config.answer.deny[0].test("+16505551212")).toBe(true);
    expect(config.answer).toMatchObject({ maxPerMinute: 30, refusedAction: "decline" });
    expect(config.webhook).toEqual({ publicUrl: "https://bot.example.com", verificationToken: "tok-0123456789abcdef", subscriptionExpiresS: 86400 });
    expect(JSON.stringify(describeConfig(config))).not.toContain("tok-0123456789abcdef");
  });
  it("webhook mode without a way to get webhooks is an error", () => {
    expect(problemsOf({ ...valid, ANSWER_MODE: "webhook" })).toEqual([expect.stringMatching(/^ANSWER_MODE is webhook but WEBHOOK_PUBLIC_URL is not set/)]);
    expect(loadConfig({ ...valid, ANSWER_MODE: "webhook", WEBHOOK_VERIFICATION_TOKEN: "tok-0123456789abcdef" }).answer.mode).toBe("webhook");
  });
  it("names bad answering and webhook values", () => {
    const problems = problemsOf({ ...valid, ANSWER_MAX_PER_MINUTE: "0", ANSWER_REFUSED_ACTION: "maybe", WEBHOOK_PUBLIC_URL: "ftp://x", WEBHOOK_VERIFICATION_TOKEN: "short", PIPELINE_DOWN_ACTION: "x", PLAYOUT_LEAD_MS: "5", API_TOKEN: "short" });
    for (const name of ["ANSWER_MAX_PER_MINUTE", "ANSWER_REFUSED_ACTION", "WEBHOOK_PUBLIC_URL", "WEBHOOK_VERIFICATION_TOKEN", "PIPELINE_DOWN_ACTION", "PLAYOUT_LEAD_MS", "API_TOKEN"]) {
      expect(problems.filter((p) => p.startsWith(name))).toHaveLength(1);
    }
  });
});

describe("call events settings", () => {
  const key = Buffer.alloc(32, 9).toString("base64");
  const secret = `whsec_${key}`;

  it("are off by default, and take the URL, the secret and the spool's place and bounds", () => {
    expect(loadConfig(valid).events).toBeUndefined();
    expect(loadConfig({ ...valid, EVENTS_URL: "https://events.example.com/in", EVENTS_SECRET: secret }).events).toEqual({
      url: "https://events.example.com/in",
      secret,
      spoolDir: ".cache/events",
      spoolMaxEvents: 10_000,
      spoolMaxBytes: 64 * 1024 * 1024,
    });
    expect(
      loadConfig({ ...valid, EVENTS_URL: "http://127.0.0.1:9/e", EVENTS_SECRET: secret, EVENTS_SPOOL_DIR: join(tmp, "spool"), EVENTS_SPOOL_MAX_EVENTS: "5", EVENTS_SPOOL_MAX_BYTES: "4096", SIP_INFO_CACHE: "/var/lib/x/sip.json" }).events,
    ).toMatchObject({ spoolDir: join(tmp, "spool"), spoolMaxEvents: 5, spoolMaxBytes: 4096 });
    expect(loadConfig({ ...valid, EVENTS_URL: "http://127.0.0.1:9/e", EVENTS_SECRET: secret, SIP_INFO_CACHE: "/var/lib/x/sip.json" }).events?.spoolDir).toBe("/var/lib/x/events");
  });

  it("name a bad URL, a bad or missing secret, and settings without EVENTS_URL, never echoing the secret", () => {
    expect(problemsOf({ ...valid, EVENTS_URL: "ftp://x/y", EVENTS_SECRET: secret })).toEqual([expect.stringMatching(/^EVENTS_URL is set but has another scheme, not http:\/\/ or https:\/\//)]);
    for (const bad of ["whsec_", `whsec_${Buffer.alloc(8).toString("base64")}`, `whsec_${Buffer.alloc(65).toString("base64")}`, key, `whsec_${key}!`]) {
      const problems = problemsOf({ ...valid, EVENTS_URL: "https://e.example.com", EVENTS_SECRET: bad });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^EVENTS_SECRET is set but is not a Standard Webhooks secret/);
      expect(problems[0]).not.toContain(key);
    }
    expect(problemsOf({ ...valid, EVENTS_URL: "https://e.example.com" })).toEqual([expect.stringMatching(/^EVENTS_SECRET is not set but EVENTS_URL is/)]);
    expect(problemsOf({ ...valid, EVENTS_SECRET: secret, EVENTS_SPOOL_DIR: "/tmp/x" }).map((p) => p.split(" ")[0])).toEqual(["EVENTS_SECRET", "EVENTS_SPOOL_DIR"]);
    expect(problemsOf({ ...valid, EVENTS_URL: "https://e.example.com", EVENTS_SECRET: secret, EVENTS_SPOOL_MAX_BYTES: "10" })[0]).toMatch(/^EVENTS_SPOOL_MAX_BYTES must be/);
    const file = join(tmp, "spool-is-a-file");
    writeFileSync(file, "");
    expect(problemsOf({ ...valid, EVENTS_URL: "https://e.example.com", EVENTS_SECRET: secret, EVENTS_SPOOL_DIR: file })).toEqual([expect.stringMatching(/^EVENTS_SPOOL_DIR is ".*spool-is-a-file", which exists but is not a directory/)]);
  });

  it("redact the URL's query and the secret in describeConfig", () => {
    const described = JSON.stringify(describeConfig(loadConfig({ ...valid, EVENTS_URL: "https://e.example.com/in?token=evt-tok-1234", EVENTS_SECRET: secret })));
    expect(described).not.toContain(key);
    expect(described).not.toContain("evt-tok-1234");
    expect(described).toContain("https://e.example.com/in?token=***");
  });
});

/**
 * Configuration under any values: loadConfig either gives a Config whose every number is one the
 * code can do (timers ≤ 2^31−1 ms, slots a frame header can name, ports), or a ConfigError with one
 * sentence per bad variable, naming it, never echoing a secret. Nothing else is ever thrown.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_SLOTS } from "../bridge/page-frames.ts";
import { MAX_TIMER_MS } from "../host/config-fields.ts";
import { ConfigError, loadConfig } from "../host/config.ts";
import { spawnHostCli } from "./support/host-cli.ts";
import { nastyString, runs } from "./support/fuzz.ts";

const SECRETS = { RINGCENTRAL_CLIENT_SECRET: "zz-secret-4f1b", RINGCENTRAL_JWT_TOKEN: "eyJh.eyJz.c2ln", API_TOKEN: "api-token-7c2d9e0011", PIPELINE_URL: "wss://agent.example.com/m?token=tok-91ab", WEBHOOK_VERIFICATION_TOKEN: "verify-token-5e6f7a8b" };
const BASE = { RINGCENTRAL_CLIENT_ID: "client_1", ...SECRETS };

const NUMERIC = ["PIPELINE_CONNECT_TIMEOUT_MS", "PLAYOUT_LEAD_MS", "SUBSCRIPTION_EXPIRES_S", "ANSWER_MAX_PER_MINUTE", "HTTP_PORT", "MAX_CONCURRENT_CALLS", "EVENTS_SPOOL_MAX_EVENTS", "EVENTS_SPOOL_MAX_BYTES"] as const;
const GOOD_EVENTS_SECRET = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;
const OTHER = ["RINGCENTRAL_SERVER_URL", "RINGCENTRAL_SIP_INSECURE_TLS", "PIPELINE_PROTOCOL", "PIPELINE_AUDIO", "PIPELINE_SAMPLE_RATE", "PIPELINE_DOWN_ACTION", "PIPELINE_DROP_ACTION", "ANSWER_MODE", "ANSWER_REFUSED_ACTION", "ANSWER_ALLOW", "ANSWER_DENY", "HEADLESS", "HTTP_HOST", "LOG_LEVEL", "METRICS_REQUIRE_TOKEN", "WEBHOOK_PUBLIC_URL", "EVENTS_URL", "EVENTS_SECRET", "EVENTS_SPOOL_DIR", ...Object.keys(SECRETS)];
const ALL = [...NUMERIC, ...OTHER];

const number = fc.oneof(
  fc.integer({ min: -10, max: 70_000 }).map(String),
  fc.constantFrom("2147483647", "2147483648", "2592000", "2592001", "65535", "65536", "65537", "9007199254740993", "1e3", "0x10", "08", " 5", "5 ", "+5", "5.0", "１２", "Infinity", "NaN", "-0", "9".repeat(40)),
);
const value = fc.oneof(number, nastyString, fc.constantFrom("true", "false", "yes", "l16", "twilio", "webhook", "ws://127.0.0.1:9", "http://x", "*", "+1650*", "(", "debug", GOOD_EVENTS_SECRET, "whsec_", "whsec_AAAA", "http://127.0.0.1:9/events"));
const env = fc.dictionary(fc.constantFrom(...ALL), value, { maxKeys: 8 });

describe("configuration under any values", () => {
  it("is a Config within the code's bounds, or one clear problem per bad variable", () => {
    fc.assert(
      fc.property(env, (overrides) => {
        const e = { ...BASE, ...overrides };
        let config;
        try {
          config = loadConfig(e);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          const problems = (err as ConfigError).problems;
          expect(problems.length).toBeGreaterThan(0);
          for (const p of problems) {
            // Each names a variable first (or two, for settings that only make sense together), and says what to do.
            expect(ALL.some((name) => p.startsWith(`${name} `)), p).toBe(true);
            expect(p).toContain(": ");
            for (const [name, secret] of Object.entries(SECRETS)) if (e[name as keyof typeof e] === secret) expect(p).not.toContain(secret);
          }
          const named = problems.map((p) => p.split(" ")[0]);
          expect(new Set(named).size).toBe(named.length);
          return;
        }
        expect(config.pipeline.connectTimeoutMs).toBeGreaterThanOrEqual(1);
        expect(config.pipeline.connectTimeoutMs).toBeLessThanOrEqual(MAX_TIMER_MS);
        expect(config.pipeline.playoutLeadMs).toBeLessThanOrEqual(500);
        // The renewal timer fires at 4/5 of the lifetime: it must fit a timer too.
        expect(config.webhook.subscriptionExpiresS * 1000 * 0.8).toBeLessThanOrEqual(MAX_TIMER_MS);
        expect(config.answer.maxConcurrentCalls).toBeGreaterThanOrEqual(1);
        expect(config.answer.maxConcurrentCalls).toBeLessThanOrEqual(MAX_SLOTS);
        expect(config.http.port).toBeGreaterThanOrEqual(0);
        expect(config.http.port).toBeLessThanOrEqual(65535);
        for (const n of [config.pipeline.connectTimeoutMs, config.pipeline.playoutLeadMs, config.webhook.subscriptionExpiresS, config.answer.maxConcurrentCalls, config.http.port]) expect(Number.isSafeInteger(n)).toBe(true);
        if (config.http.metricsRequireToken) expect(config.apiToken).toBeDefined();
        // Events go out signed, or not at all.
        if (config.events) expect(config.events.secret).toMatch(/^whsec_/);
        if (config.events) for (const n of [config.events.spoolMaxEvents, config.events.spoolMaxBytes]) expect(Number.isSafeInteger(n) && n > 0).toBe(true);
      }),
      runs(800),
    );
  });

  it("npm start stops at once with exit 2 and one line per out-of-range setting", async () => {
    const child = spawnHostCli(
      {
        ...BASE,
        MAX_CONCURRENT_CALLS: "65537",
        PIPELINE_CONNECT_TIMEOUT_MS: "2147483648",
        SUBSCRIPTION_EXPIRES_S: "315360000",
        HTTP_PORT: "70000",
        METRICS_REQUIRE_TOKEN: "maybe",
      },
      "fuzz-config",
    );
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.stdout.resume();
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    expect(code).toBe(2);
    const lines = stderr.split("\n").filter((l) => l.startsWith("config: "));
    for (const name of ["MAX_CONCURRENT_CALLS", "PIPELINE_CONNECT_TIMEOUT_MS", "SUBSCRIPTION_EXPIRES_S", "HTTP_PORT", "METRICS_REQUIRE_TOKEN"]) {
      expect(lines.filter((l) => l.startsWith(`config: ${name} `)), stderr).toHaveLength(1);
    }
    expect(stderr).toMatch(/MAX_CONCURRENT_CALLS must be a whole number from 1 to 65536/);
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it("npm start stops with exit 2 and one line each for a bad EVENTS_URL and EVENTS_SECRET, never echoing the secret", async () => {
    const badSecret = "whsec_not-base64-at-all!!";
    for (const [env, name] of [
      [{ EVENTS_URL: "ftp://events.example.com/in", EVENTS_SECRET: GOOD_EVENTS_SECRET }, "EVENTS_URL"],
      [{ EVENTS_URL: "https://events.example.com/in", EVENTS_SECRET: badSecret }, "EVENTS_SECRET"],
      [{ EVENTS_URL: "https://events.example.com/in" }, "EVENTS_SECRET"],
    ] as const) {
      const child = spawnHostCli({ ...BASE, ...env }, "fuzz-config-events");
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      child.stdout.resume();
      const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
      expect(code, stderr).toBe(2);
      const lines = stderr.split("\n").filter((l) => l.startsWith("config: "));
      expect(lines, stderr).toHaveLength(1);
      expect(lines[0].startsWith(`config: ${name} `), stderr).toBe(true);
      expect(stderr).not.toContain(badSecret);
      expect(stderr).not.toContain(GOOD_EVENTS_SECRET);
      expect(stderr).not.toMatch(/^\s+at /m);
    }
  });
});

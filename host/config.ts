import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import dotenv from "dotenv";
import { z } from "zod";
import { MAX_SLOTS } from "../bridge/page-frames.ts";
import { PROTOCOLS, protocolNamed, type PipelineProfile, type ProtocolSetting } from "../bridge/pipeline/index.ts";
import { MAX_TIMER_MS, boolean, clientId, clientSecret, describeScheme, eventsSecret, integer, jwt, oneOf, pathKind, patterns, serverUrl, urlWith } from "./config-fields.ts";
import type { UplinkMode } from "../bridge/page-protocol.ts";

export type AnswerMode = "auto" | "webhook";
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface RingCentralConfig {
  serverUrl: string;
  clientId: string;
  clientSecret: string;
  jwt: string;
  /** Accept the SIP server's self-signed certificate: twin and local tests only. */
  insecureSipTls: boolean;
}

export interface PipelineConfig {
  url: string;
  /** Protocol, encoding and rate, from PIPELINE_PROTOCOL and that protocol's own settings. */
  profile: PipelineProfile;
  connectTimeoutMs: number;
  /** The pipeline is down as a call arrives: apologise and hang up, or leave the call ringing. */
  downAction: "message" | "ring";
  /** The pipeline drops mid-call: hang up, or dial again and send a fresh start. */
  dropAction: "hangup" | "reconnect";
  /** Audio sent to Chrome ahead of playout: absorbs jitter, adds this much latency. */
  playoutLeadMs: number;
  /** UPLINK: the caller's audio for the pipeline from after Chrome's jitter buffer, or decoded straight from RTP. */
  uplink: UplinkMode;
}

export interface Config {
  ringcentral: RingCentralConfig;
  pipeline: PipelineConfig;
  /** `debugPort`: Chrome's DevTools on 127.0.0.1 (CHROME_DEBUG_PORT), for watching the page. */
  chrome: { headless: boolean; executablePath?: string; debugPort?: number };
  /** `metricsRequireToken`: /metrics and /openapi.json need the API's bearer token. */
  http: { host: string; port: number; metricsRequireToken: boolean };
  answer: AnswerConfig;
  webhook: {
    /** Public base URL that reaches HTTP_PORT: set it to have the host subscribe to telephony events. */
    publicUrl?: string;
    /** What RingCentral sends back in Verification-Token (made at random per start when unset). */
    verificationToken?: string;
    subscriptionExpiresS: number;
  };
  /** Bearer token of the REST API (and Basic password of the Twilio-compatible hang-up route). */
  apiToken?: string;
  /** Absent: calls are not recorded. */
  recordingsDir?: string;
  logLevel: LogLevel;
  sipInfoCachePath: string;
  /** Absent (REDIS_URL unset): a host on its own. */
  cluster?: ClusterConfig;
  /** DRAIN_TIMEOUT_S: how long a drain lets calls in progress go on before hanging them up (`drain-timeout`). */
  drainTimeoutS: number;
  /** Absent (EVENTS_URL unset): no call events are sent. */
  events?: EventsConfig;
}

/** Call events out (docs: README "Call events"): signed POSTs to one URL, spooled on disk first. */
export interface EventsConfig {
  url: string;
  /** Standard Webhooks secret, whsec_<base64>. */
  secret: string;
  spoolDir: string;
  spoolMaxEvents: number;
  spoolMaxBytes: number;
}

/** Several hosts on one extension acting as one, through Redis (docs/ARCHITECTURE.md, "Cluster"). */
export interface ClusterConfig {
  redisUrl: string;
  /** This host's name in the cluster: HOST_ID, else the machine's hostname and 6 random hex digits. */
  hostId: string;
  /** CLUSTER_MAX_CONCURRENT_CALLS: inbound calls in progress across all hosts. */
  maxConcurrentCalls?: number;
}

export interface AnswerConfig {
  mode: AnswerMode;
  maxConcurrentCalls: number;
  /** Caller numbers to answer (anchored patterns; `*` any digits). Empty: everyone. */
  allow: RegExp[];
  /** Caller numbers never to answer. */
  deny: RegExp[];
  maxPerMinute?: number;
  refusedAction: "ring" | "decline";
}

type CredentialKey = "clientId" | "clientSecret" | "jwt";

/** What the demo gets: it fills the credentials from the offline twin. */
export type ConfigWithOptionalCredentials = Omit<Config, "ringcentral"> & {
  ringcentral: Omit<RingCentralConfig, CredentialKey> & Partial<Pick<RingCentralConfig, CredentialKey>>;
};

export interface LoadConfigOptions {
  /** Default true; false only for the demo, whose credentials come from the twin. */
  requireCredentials?: boolean;
}

/** Every configuration problem found, one human sentence each. */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    const n = problems.length;
    super(`${n} configuration problem${n === 1 ? "" : "s"}: ${problems.join("; ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

// Values never echoed in a message (a pipeline URL may carry an access token); protocols add their secrets.
const SECRET_VARS = new Set(["RINGCENTRAL_CLIENT_SECRET", "RINGCENTRAL_JWT_TOKEN", "PIPELINE_URL", "API_TOKEN", "WEBHOOK_VERIFICATION_TOKEN", "REDIS_URL", "EVENTS_URL", "EVENTS_SECRET", ...PROTOCOLS.flatMap((p) => Object.entries(p.settings).filter(([, s]) => s.secret).map(([name]) => name))]);

/** One protocol setting's schema: a list of values, or free text; required ones only for the protocol chosen. */
function protocolSetting(name: string, s: ProtocolSetting, chosen: boolean): z.ZodType<string | undefined> {
  if (s.values) return oneOf(s.values, s.hint).default(s.default ?? s.values[0]);
  const text = z.string({ error: `is not set: ${s.hint}` }).regex(s.pattern ?? /[^]*/, { error: s.secret ? `is set but is not valid: ${s.hint}` : (iss) => `is "${String(iss.input)}", which is not valid: ${s.hint}` });
  if (s.default !== undefined) return text.default(s.default);
  return s.required && chosen ? text : text.optional();
}

// Built per load: the protocol list (bridge/pipeline/index.ts) decides which PIPELINE_* exist.
const schemas = (chosen?: string) => ({
  RINGCENTRAL_SIP_INSECURE_TLS: boolean("RINGCENTRAL_SIP_INSECURE_TLS").default(false),
  // A protocol with a home of its own (openai-realtime) takes its URL from its own setting.
  PIPELINE_URL: z
    .string({ error: "is not set: set it to your pipeline's WebSocket URL, e.g. wss://agent.example.com/media" })
    .pipe(urlWith(["ws:", "wss:"], (s) => `is set but ${describeScheme(s)}, not ws:// or wss://: set it to your pipeline's WebSocket URL`))
    .optional()
    .refine((u) => u !== undefined || protocolNamed(chosen ?? "")?.urlSetting !== undefined, { error: "is not set: set it to your pipeline's WebSocket URL, e.g. wss://agent.example.com/media" }),
  PIPELINE_PROTOCOL: oneOf(PROTOCOLS.map((p) => p.name), `use ${PROTOCOLS.map((p) => p.summary).join(" or ")}`).default(PROTOCOLS[0].name),
  // Each protocol's own variables (bridge/pipeline/): a new protocol brings its settings with it.
  ...Object.fromEntries(PROTOCOLS.flatMap((p) => Object.entries(p.settings).map(([name, s]) => [name, protocolSetting(name, s, p.name === chosen)]))),
  PIPELINE_CONNECT_TIMEOUT_MS: integer(1, MAX_TIMER_MS, "a positive whole number of milliseconds", "how long to wait for the pipeline to accept a call, e.g. 3000").default(3000),
  PIPELINE_DOWN_ACTION: oneOf(["message", "ring"], "what to do when the pipeline cannot be reached as a call arrives: message answers, plays a short apology and hangs up; ring leaves the call ringing (to voicemail or another device)").default("message"),
  PIPELINE_DROP_ACTION: oneOf(["hangup", "reconnect"], "what to do when the pipeline drops mid-call: hangup ends the call; reconnect dials again and sends a fresh start").default("hangup"),
  UPLINK: oneOf(["buffered", "fast"], "where the pipeline's caller audio is taken: buffered after Chrome's jitter buffer, fast decoded straight from RTP (about 40 ms sooner, gaps filled with silence)").default("fast"),
  PLAYOUT_LEAD_MS: integer(20, 500, "a whole number of milliseconds from 20 to 500", "how far ahead of playout audio is sent to Chrome, e.g. 40").default(40),
  API_TOKEN: z
    .string()
    .min(16, { error: "is set but shorter than 16 characters: use a long random value, e.g. openssl rand -hex 24" })
    .optional(),
  WEBHOOK_PUBLIC_URL: z
    .string()
    .pipe(urlWith(["http:", "https:"], (sch) => `is set but ${describeScheme(sch)}, not http:// or https://: set it to the public base URL that reaches this host's HTTP_PORT`))
    .optional(),
  WEBHOOK_VERIFICATION_TOKEN: z
    .string()
    .regex(/^[A-Za-z0-9._~-]{16,64}$/, { error: "must be 16-64 characters of letters, digits, . _ ~ or -: RingCentral echoes it in Verification-Token" })
    .optional(),
  // Renewed at 4/5 of its life: 30 days keeps that timer under MAX_TIMER_MS (24.8 days).
  SUBSCRIPTION_EXPIRES_S: integer(5, 2_592_000, "a whole number of seconds from 5 to 2592000 (30 days)", "how long each webhook subscription lasts before renewal, e.g. 86400").default(86_400),
  ANSWER_ALLOW: z.string().optional(),
  ANSWER_DENY: z.string().optional(),
  ANSWER_MAX_PER_MINUTE: integer(1, 100_000, "a positive whole number", "the most calls answered per minute, e.g. 30").optional(),
  ANSWER_REFUSED_ACTION: oneOf(["ring", "decline"], "what happens to a call the rules refuse: ring leaves it ringing for others, decline rejects it").default("ring"),
  HEADLESS: boolean("HEADLESS").default(true),
  CHROME_PATH: z
    .string()
    .refine((p) => pathKind(p) === "file", {
      error: (iss) => {
        const p = String(iss.input);
        const found = pathKind(p) === undefined ? "does not exist" : "is not a file";
        return `is "${p}", which ${found}: set it to the Chrome or Chromium executable, or leave it unset to auto-detect`;
      },
    })
    .optional(),
  CHROME_DEBUG_PORT: integer(1024, 65535, "a whole number from 1024 to 65535", "a free port for Chrome's DevTools on 127.0.0.1, e.g. 9222; leave unset in production").optional(),
  HTTP_PORT: integer(0, 65535, "a whole number from 0 to 65535", "set a free TCP port, e.g. 8080 (0 picks any free port)").default(8080),
  HTTP_HOST: z
    .string()
    .regex(/^[A-Za-z0-9.:_\-[\]%]+$/, {
      error: (iss) => `must be a host name or IP address, got "${String(iss.input)}": e.g. 127.0.0.1, or 0.0.0.0 to listen on all interfaces`,
    })
    .default("127.0.0.1"),
  ANSWER_MODE: oneOf(["auto", "webhook"], "auto answers every inbound call, webhook answers on RingCentral webhook notifications").default("auto"),
  // One page slot per call, and a frame header names its slot in 16 bits.
  MAX_CONCURRENT_CALLS: integer(1, MAX_SLOTS, `a whole number from 1 to ${MAX_SLOTS}`, "the most calls handled at once, e.g. 8").default(8),
  METRICS_REQUIRE_TOKEN: boolean("METRICS_REQUIRE_TOKEN").default(false),
  RECORDINGS_DIR: z
    .string()
    .refine((p) => { const k = pathKind(p); return k === undefined || k === "dir"; }, {
      error: (iss) => `is "${String(iss.input)}", which exists but is not a directory: point it at a directory, or leave it empty to record nothing`,
    })
    .optional(),
  LOG_LEVEL: oneOf(["fatal", "error", "warn", "info", "debug", "trace", "silent"], "info suits production, debug for troubleshooting").default("info"),
  SIP_INFO_CACHE: z.string().default(".cache/sip-info.json"),
  // May carry a password: never echoed (SECRET_VARS), redacted in describeConfig.
  REDIS_URL: z
    .string()
    .pipe(urlWith(["redis:", "rediss:"], (u) => `is set but ${describeScheme(u)}, not redis:// or rediss://: set it to the Redis the hosts share, e.g. redis://redis:6379/0, or leave it unset to run this host on its own`))
    .optional(),
  HOST_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, { error: (iss) => `must be 1-64 letters, digits, . _ or -, got "${String(iss.input)}": it names this host in the cluster (default: the hostname and 6 random hex digits)` })
    .optional(),
  CLUSTER_MAX_CONCURRENT_CALLS: integer(1, 100_000, "a positive whole number", "the most inbound calls in progress across all hosts, e.g. 40").optional(),
  // Kubernetes' terminationGracePeriodSeconds must exceed it (deploy/kubernetes/deployment.yaml).
  DRAIN_TIMEOUT_S: integer(0, 3600, "a whole number of seconds from 0 to 3600", "how long a drain (SIGTERM, POST /admin/drain) lets calls in progress go on before hanging them up, e.g. 300").default(300),
  // May carry a token in its query: never echoed (SECRET_VARS).
  EVENTS_URL: z
    .string()
    .pipe(urlWith(["http:", "https:"], (u) => `is set but ${describeScheme(u)}, not http:// or https://: set it to the URL that receives the host's call events, or leave it unset to send none`))
    .optional(),
  EVENTS_SECRET: eventsSecret.optional(),
  EVENTS_SPOOL_DIR: z
    .string()
    .refine((p) => { const k = pathKind(p); return k === undefined || k === "dir"; }, {
      error: (iss) => `is "${String(iss.input)}", which exists but is not a directory: point it at a directory the host may write (created if missing), or leave it unset for .cache/events`,
    })
    .optional(),
  EVENTS_SPOOL_MAX_EVENTS: integer(1, 10_000_000, "a positive whole number", "the most undelivered events kept on disk (the oldest are dropped past it), e.g. 10000").default(10_000),
  EVENTS_SPOOL_MAX_BYTES: integer(4096, 2 ** 40, "a whole number of bytes, at least 4096", "the most disk the undelivered events may take (the oldest are dropped past it), e.g. 67108864").default(64 * 1024 * 1024),
});

/** Every variable the host reads (deploy/ manifests and docs are checked against it). */
export function settingNames(): string[] {
  return ["RINGCENTRAL_SERVER_URL", "RINGCENTRAL_CLIENT_ID", "RINGCENTRAL_CLIENT_SECRET", "RINGCENTRAL_JWT_TOKEN", ...Object.keys(schemas())];
}

// Unset and empty mean the same thing: `.env.example` leaves optional values empty.
function clean(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v === undefined || v === "" ? undefined : v;
}

/** Reads and checks the whole configuration, throwing a ConfigError listing every problem. */
export function loadConfig(env?: NodeJS.ProcessEnv, opts?: { requireCredentials?: true }): Config;
export function loadConfig(env: NodeJS.ProcessEnv, opts: { requireCredentials: false }): ConfigWithOptionalCredentials;
export function loadConfig(env: NodeJS.ProcessEnv, opts: LoadConfigOptions): Config | ConfigWithOptionalCredentials;
export function loadConfig(env: NodeJS.ProcessEnv = process.env, opts: LoadConfigOptions = {}): Config | ConfigWithOptionalCredentials {
  // Typed as possibly-undefined either way; the required schemas reject undefined at run time.
  const credentials: Record<"RINGCENTRAL_CLIENT_ID" | "RINGCENTRAL_CLIENT_SECRET" | "RINGCENTRAL_JWT_TOKEN", z.ZodType<string | undefined>> =
    opts.requireCredentials === false
    ? { RINGCENTRAL_CLIENT_ID: clientId.optional(), RINGCENTRAL_CLIENT_SECRET: clientSecret.optional(), RINGCENTRAL_JWT_TOKEN: jwt.optional() }
    : { RINGCENTRAL_CLIENT_ID: clientId, RINGCENTRAL_CLIENT_SECRET: clientSecret, RINGCENTRAL_JWT_TOKEN: jwt };
  // Server URL first, then credentials: problems are listed in the order of `.env.example`.
  const chosen = clean(env.PIPELINE_PROTOCOL)?.toLowerCase() ?? PROTOCOLS[0].name;
  const schema = z.object({ RINGCENTRAL_SERVER_URL: serverUrl, ...credentials, ...schemas(chosen) });

  const raw: Record<string, string | undefined> = {};
  for (const name of Object.keys(schema.shape)) raw[name] = clean(env[name]);

  const result = schema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      const value = raw[name];
      // Belt and braces: no message template may leak a secret, whatever it says. The name stays
      // whole, and a value too short to be a secret would only garble the sentence.
      const masked = SECRET_VARS.has(name) && value && value.length >= 6 ? issue.message.split(value).join("***") : issue.message;
      return `${name} ${masked}`;
    }));
  }

  const v = result.data;
  const combined: string[] = [];
  // Webhook mode answers only what webhooks approve: something must deliver them.
  if (v.ANSWER_MODE === "webhook" && v.WEBHOOK_PUBLIC_URL === undefined && v.WEBHOOK_VERIFICATION_TOKEN === undefined) {
    combined.push("ANSWER_MODE is webhook but WEBHOOK_PUBLIC_URL is not set: set it so the host subscribes to telephony events (or set WEBHOOK_VERIFICATION_TOKEN if you manage the subscription yourself)");
  }
  if (v.METRICS_REQUIRE_TOKEN && v.API_TOKEN === undefined) {
    combined.push("METRICS_REQUIRE_TOKEN is true but API_TOKEN is not set: set API_TOKEN (the bearer token /metrics and /openapi.json then need), or METRICS_REQUIRE_TOKEN=false");
  }
  // The cluster's one subscription is made by whichever host holds it, and a delivery may reach any host.
  if (v.REDIS_URL !== undefined && v.WEBHOOK_PUBLIC_URL !== undefined && v.WEBHOOK_VERIFICATION_TOKEN === undefined) {
    combined.push("WEBHOOK_VERIFICATION_TOKEN is not set but REDIS_URL and WEBHOOK_PUBLIC_URL are: every host of a cluster must check deliveries with the same token; set WEBHOOK_VERIFICATION_TOKEN to one value on all of them");
  }
  for (const name of ["HOST_ID", "CLUSTER_MAX_CONCURRENT_CALLS"] as const) {
    if (v[name] !== undefined && v.REDIS_URL === undefined) combined.push(`${name} is set but REDIS_URL is not: ${name} only means something in a cluster; set REDIS_URL, or unset ${name}`);
  }
  if (v.EVENTS_URL !== undefined && v.EVENTS_SECRET === undefined) {
    combined.push("EVENTS_SECRET is not set but EVENTS_URL is: events are signed (Standard Webhooks); set EVENTS_SECRET=whsec_ followed by 24-64 random bytes in base64, e.g. whsec_$(openssl rand -base64 32)");
  }
  for (const name of ["EVENTS_SECRET", "EVENTS_SPOOL_DIR"] as const) {
    if (v[name] !== undefined && v.EVENTS_URL === undefined) combined.push(`${name} is set but EVENTS_URL is not: set EVENTS_URL to send call events, or unset ${name}`);
  }
  if (combined.length) throw new ConfigError(combined);
  return {
    ringcentral: {
      serverUrl: v.RINGCENTRAL_SERVER_URL,
      ...(v.RINGCENTRAL_CLIENT_ID !== undefined && { clientId: v.RINGCENTRAL_CLIENT_ID }),
      ...(v.RINGCENTRAL_CLIENT_SECRET !== undefined && { clientSecret: v.RINGCENTRAL_CLIENT_SECRET }),
      ...(v.RINGCENTRAL_JWT_TOKEN !== undefined && { jwt: v.RINGCENTRAL_JWT_TOKEN }),
      insecureSipTls: v.RINGCENTRAL_SIP_INSECURE_TLS,
    },
    pipeline: {
      url: pipelineUrl(v.PIPELINE_PROTOCOL, v),
      profile: pipelineProfile(v.PIPELINE_PROTOCOL, v),
      connectTimeoutMs: v.PIPELINE_CONNECT_TIMEOUT_MS,
      downAction: v.PIPELINE_DOWN_ACTION,
      dropAction: v.PIPELINE_DROP_ACTION,
      playoutLeadMs: v.PLAYOUT_LEAD_MS,
      uplink: v.UPLINK,
    },
    chrome: {
      headless: v.HEADLESS,
      ...(v.CHROME_PATH !== undefined && { executablePath: v.CHROME_PATH }),
      ...(v.CHROME_DEBUG_PORT !== undefined && { debugPort: v.CHROME_DEBUG_PORT }),
    },
    http: { host: v.HTTP_HOST, port: v.HTTP_PORT, metricsRequireToken: v.METRICS_REQUIRE_TOKEN },
    answer: {
      mode: v.ANSWER_MODE,
      maxConcurrentCalls: v.MAX_CONCURRENT_CALLS,
      allow: patterns(v.ANSWER_ALLOW),
      deny: patterns(v.ANSWER_DENY),
      ...(v.ANSWER_MAX_PER_MINUTE !== undefined && { maxPerMinute: v.ANSWER_MAX_PER_MINUTE }),
      refusedAction: v.ANSWER_REFUSED_ACTION,
    },
    webhook: {
      ...(v.WEBHOOK_PUBLIC_URL !== undefined && { publicUrl: v.WEBHOOK_PUBLIC_URL.replace(/\/+$/, "") }),
      ...(v.WEBHOOK_VERIFICATION_TOKEN !== undefined && { verificationToken: v.WEBHOOK_VERIFICATION_TOKEN }),
      subscriptionExpiresS: v.SUBSCRIPTION_EXPIRES_S,
    },
    ...(v.API_TOKEN !== undefined && { apiToken: v.API_TOKEN }),
    ...(v.RECORDINGS_DIR !== undefined && { recordingsDir: v.RECORDINGS_DIR }),
    logLevel: v.LOG_LEVEL,
    sipInfoCachePath: v.SIP_INFO_CACHE,
    drainTimeoutS: v.DRAIN_TIMEOUT_S,
    ...(v.EVENTS_URL !== undefined && v.EVENTS_SECRET !== undefined && {
      events: {
        url: v.EVENTS_URL,
        secret: v.EVENTS_SECRET,
        // Beside the SIP cache (.cache/events by default): a cache the host keeps across restarts.
        spoolDir: v.EVENTS_SPOOL_DIR ?? join(dirname(v.SIP_INFO_CACHE), "events"),
        spoolMaxEvents: v.EVENTS_SPOOL_MAX_EVENTS,
        spoolMaxBytes: v.EVENTS_SPOOL_MAX_BYTES,
      },
    }),
    ...(v.REDIS_URL !== undefined && {
      cluster: {
        redisUrl: v.REDIS_URL,
        hostId: v.HOST_ID ?? `${hostname().replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 50)}-${randomBytes(3).toString("hex")}`,
        ...(v.CLUSTER_MAX_CONCURRENT_CALLS !== undefined && { maxConcurrentCalls: v.CLUSTER_MAX_CONCURRENT_CALLS }),
      },
    }),
  };
}

/** The chosen protocol's profile from its (validated) settings; unset free settings are left out. */
function pipelineProfile(name: string, values: Record<string, unknown>): PipelineProfile {
  const protocol = protocolNamed(name)!;
  return protocol.profile(Object.fromEntries(Object.keys(protocol.settings).filter((k) => values[k] !== undefined).map((k) => [k, String(values[k])])));
}

/** PIPELINE_URL, or the protocol's own URL setting: never another's, as that protocol sends its key with it. */
function pipelineUrl(name: string, values: Record<string, unknown>): string {
  const own = protocolNamed(name)!.urlSetting;
  return own ? String(values[own]) : String(values.PIPELINE_URL);
}

export interface DotEnvResult {
  path: string;
  /** Names (never values) of the variables taken from the file. */
  applied: string[];
}

/**
 * Loads `path` into `env` if the file exists; variables already set win, so a
 * deployment's real environment is never overridden by a stray `.env`.
 * Returns undefined when there is no such file.
 */
export function loadDotEnv(path = ".env", env: NodeJS.ProcessEnv = process.env): DotEnvResult | undefined {
  if (!existsSync(path)) return undefined;
  const before = new Set(Object.keys(env));
  const out = dotenv.config({ path, processEnv: env, override: false, quiet: true });
  if (out.error) throw new ConfigError([`${path} could not be read (${out.error.code ?? out.error.message}): fix or remove the file`]);
  return { path, applied: Object.keys(out.parsed ?? {}).filter((k) => !before.has(k)) };
}

// Hides userinfo and query values: pipeline URLs often carry an access token.
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username) u.username = "***";
    if (u.password) u.password = "***";
    for (const key of [...new Set(u.searchParams.keys())]) u.searchParams.set(key, "***");
    return u.toString();
  } catch {
    return "***";
  }
}

/** The configuration as a loggable object, with every secret replaced. */
export function describeConfig(config: Config | ConfigWithOptionalCredentials): Record<string, unknown> {
  const rc = config.ringcentral;
  return {
    ringcentral: {
      serverUrl: rc.serverUrl,
      clientId: rc.clientId ?? "(not set)",
      clientSecret: rc.clientSecret ? "***" : "(not set)",
      jwt: rc.jwt ? `*** (${rc.jwt.length} chars)` : "(not set)",
      insecureSipTls: rc.insecureSipTls,
    },
    pipeline: { ...config.pipeline, url: redactUrl(config.pipeline.url), profile: redactProfile(config.pipeline.profile) },
    chrome: { headless: config.chrome.headless, executablePath: config.chrome.executablePath ?? "(auto-detect)", debugPort: config.chrome.debugPort ?? "(off)" },
    http: { ...config.http },
    answer: { ...config.answer, allow: config.answer.allow.map(String), deny: config.answer.deny.map(String) },
    webhook: { ...config.webhook, verificationToken: config.webhook.verificationToken ? "***" : "(random per start)" },
    apiToken: config.apiToken ? "***" : "(not set)",
    recordingsDir: config.recordingsDir ?? "(off)",
    logLevel: config.logLevel,
    sipInfoCachePath: config.sipInfoCachePath,
    drainTimeoutS: config.drainTimeoutS,
    events: config.events ? { ...config.events, url: redactUrl(config.events.url), secret: "***" } : "(off: EVENTS_URL unset)",
    cluster: config.cluster ? { ...config.cluster, redisUrl: redactUrl(config.cluster.redisUrl) } : "(off: REDIS_URL unset)",
  };
}

/** The profile with its protocol's secret settings (OPENAI_API_KEY) replaced. */
function redactProfile(profile: PipelineProfile): PipelineProfile {
  if (!profile.options) return profile;
  const settings = protocolNamed(profile.protocol)?.settings ?? {};
  return { ...profile, options: Object.fromEntries(Object.entries(profile.options).map(([k, v]) => [k, settings[k]?.secret ? "***" : v])) };
}

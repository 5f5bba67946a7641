import { existsSync, statSync } from "node:fs";
import dotenv from "dotenv";
import { z } from "zod";

export type PipelineProtocol = "twilio" | "l16";
export type PipelineEncoding = "mulaw" | "l16";
export type L16SampleRate = 8000 | 16000 | 24000 | 48000;
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

/** Audio carried inside the Twilio-style envelope. */
export interface PipelineAudio {
  encoding: PipelineEncoding;
  sampleRate: 8000 | 16000 | 24000;
}

export interface PipelineConfig {
  url: string;
  protocol: PipelineProtocol;
  audio: PipelineAudio;
  /** Sample rate of the raw `l16` protocol. */
  l16SampleRate: L16SampleRate;
  connectTimeoutMs: number;
  /** The pipeline is down as a call arrives: apologise and hang up, or leave the call ringing. */
  downAction: "message" | "ring";
  /** The pipeline drops mid-call: hang up, or dial again and send a fresh start. */
  dropAction: "hangup" | "reconnect";
  /** Audio sent to Chrome ahead of playout: absorbs jitter, adds this much latency. */
  playoutLeadMs: number;
}

export interface Config {
  ringcentral: RingCentralConfig;
  pipeline: PipelineConfig;
  chrome: { headless: boolean; executablePath?: string };
  http: { host: string; port: number };
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

/** "+1650*, +44*" → anchored regexes; `*` matches any run of characters. */
function patterns(list: string | undefined): RegExp[] {
  return (list ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`));
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

// Values never echoed in a message (a pipeline URL may carry an access token).
const SECRET_VARS = new Set(["RINGCENTRAL_CLIENT_SECRET", "RINGCENTRAL_JWT_TOKEN", "PIPELINE_URL", "API_TOKEN", "WEBHOOK_VERIFICATION_TOKEN"]);

const CONSOLE_HINT = "copy it from your app in the RingCentral developer console";
const BOOL_VALUES: Record<string, boolean> = { true: true, "1": true, yes: true, false: false, "0": false, no: false };
const MAX_TIMER_MS = 2_147_483_647; // setTimeout fires at once beyond this

function urlWith(protocols: readonly string[], problem: (input: string) => string) {
  return z.string().refine(
    (s) => {
      try {
        return protocols.includes(new URL(s).protocol);
      } catch {
        return false;
      }
    },
    { error: (iss) => problem(String(iss.input)) },
  );
}

function boolean(name: string) {
  return z
    .string()
    .refine((s) => Object.hasOwn(BOOL_VALUES, s.toLowerCase()), {
      error: (iss) => `must be true or false (or 1/0, yes/no), got "${String(iss.input)}": set ${name}=true or ${name}=false`,
    })
    .transform((s) => BOOL_VALUES[s.toLowerCase()]);
}

function integer(min: number, max: number, range: string, example: string) {
  return z
    .string()
    .refine((s) => /^\d+$/.test(s) && Number(s) >= min && Number(s) <= max, {
      error: (iss) => `must be ${range}, got "${String(iss.input)}": ${example}`,
    })
    .transform(Number);
}

function oneOf<const T extends string>(values: readonly T[], hint: string) {
  return z
    .string()
    .transform((s) => s.toLowerCase())
    .refine((s): s is T => (values as readonly string[]).includes(s), {
      error: (iss) => `must be ${values.length === 2 ? values.join(" or ") : `one of ${values.join(", ")}`}, got "${String(iss.input)}": ${hint}`,
    });
}

// Names the common http(s) mistake without echoing anything: a pipeline URL may hold a token.
function describeScheme(url: string): string {
  try {
    const { protocol } = new URL(url);
    return protocol === "http:" || protocol === "https:" ? `uses ${protocol}//` : "has another scheme";
  } catch {
    return "is not a URL";
  }
}

// Kind of path (file or directory), or undefined when it is absent or unreadable.
function pathKind(p: string): "file" | "dir" | "other" | undefined {
  try {
    if (!existsSync(p)) return undefined;
    const st = statSync(p);
    return st.isFile() ? "file" : st.isDirectory() ? "dir" : "other";
  } catch {
    return undefined;
  }
}

const clientId = z
  .string({ error: `is not set: ${CONSOLE_HINT}` })
  .regex(/^[A-Za-z0-9_-]+$/, { error: `is set but is not a valid client ID (letters, digits, - and _ only): ${CONSOLE_HINT}` });
const clientSecret = z
  .string({ error: `is not set: ${CONSOLE_HINT}` })
  .regex(/^\S+$/, { error: `is set but contains whitespace: ${CONSOLE_HINT}` });
const jwt = z
  .string({ error: "is not set: create a JWT credential in the RingCentral developer console and paste it here" })
  .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, {
    error: "is set but does not look like a JWT (three base64url parts separated by dots): paste the whole JWT credential from the RingCentral developer console",
  });

const serverUrl = urlWith(
  ["http:", "https:"],
  (s) => `must be an http(s) URL, got "${s}": use https://platform.ringcentral.com (production) or https://platform.devtest.ringcentral.com (sandbox)`,
)
  // Trailing slashes would double up when API paths are appended.
  .transform((s) => s.replace(/\/+$/, ""))
  .default("https://platform.ringcentral.com");

const schemas = {
  RINGCENTRAL_SIP_INSECURE_TLS: boolean("RINGCENTRAL_SIP_INSECURE_TLS").default(false),
  PIPELINE_URL: z
    .string({ error: "is not set: set it to your pipeline's WebSocket URL, e.g. wss://agent.example.com/media" })
    .pipe(urlWith(["ws:", "wss:"], (s) => `is set but ${describeScheme(s)}, not ws:// or wss://: set it to your pipeline's WebSocket URL`)),
  PIPELINE_PROTOCOL: oneOf(["twilio", "l16"], "use twilio (Twilio Media Streams envelope) or l16 (raw PCM frames)").default("twilio"),
  PIPELINE_AUDIO: oneOf(["mulaw", "l16-8000", "l16-16000", "l16-24000"], "the audio inside the Twilio envelope; mulaw is audio/x-mulaw 8 kHz")
    .transform((s): PipelineAudio => (s === "mulaw" ? { encoding: "mulaw", sampleRate: 8000 } : { encoding: "l16", sampleRate: Number(s.slice(4)) as PipelineAudio["sampleRate"] }))
    .default({ encoding: "mulaw", sampleRate: 8000 }),
  PIPELINE_SAMPLE_RATE: oneOf(["8000", "16000", "24000", "48000"], "the sample rate of the l16 protocol, in Hz")
    .transform((s) => Number(s) as L16SampleRate)
    .default(16000),
  PIPELINE_CONNECT_TIMEOUT_MS: integer(1, MAX_TIMER_MS, "a positive whole number of milliseconds", "how long to wait for the pipeline to accept a call, e.g. 3000").default(3000),
  PIPELINE_DOWN_ACTION: oneOf(["message", "ring"], "what to do when the pipeline cannot be reached as a call arrives: message answers, plays a short apology and hangs up; ring leaves the call ringing (to voicemail or another device)").default("message"),
  PIPELINE_DROP_ACTION: oneOf(["hangup", "reconnect"], "what to do when the pipeline drops mid-call: hangup ends the call; reconnect dials again and sends a fresh start").default("hangup"),
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
  SUBSCRIPTION_EXPIRES_S: integer(5, 315_360_000, "a whole number of seconds from 5 to 315360000", "how long each webhook subscription lasts before renewal, e.g. 86400").default(86_400),
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
  HTTP_PORT: integer(0, 65535, "a whole number from 0 to 65535", "set a free TCP port, e.g. 8080 (0 picks any free port)").default(8080),
  HTTP_HOST: z
    .string()
    .regex(/^[A-Za-z0-9.:_\-[\]%]+$/, {
      error: (iss) => `must be a host name or IP address, got "${String(iss.input)}": e.g. 127.0.0.1, or 0.0.0.0 to listen on all interfaces`,
    })
    .default("127.0.0.1"),
  ANSWER_MODE: oneOf(["auto", "webhook"], "auto answers every inbound call, webhook answers on RingCentral webhook notifications").default("auto"),
  MAX_CONCURRENT_CALLS: integer(1, Number.MAX_SAFE_INTEGER, "a positive whole number", "the most calls handled at once, e.g. 8").default(8),
  RECORDINGS_DIR: z
    .string()
    .refine((p) => { const k = pathKind(p); return k === undefined || k === "dir"; }, {
      error: (iss) => `is "${String(iss.input)}", which exists but is not a directory: point it at a directory, or leave it empty to record nothing`,
    })
    .optional(),
  LOG_LEVEL: oneOf(["fatal", "error", "warn", "info", "debug", "trace", "silent"], "info suits production, debug for troubleshooting").default("info"),
  SIP_INFO_CACHE: z.string().default(".cache/sip-info.json"),
};

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
  const schema = z.object({ RINGCENTRAL_SERVER_URL: serverUrl, ...credentials, ...schemas });

  const raw: Record<string, string | undefined> = {};
  for (const name of Object.keys(schema.shape)) raw[name] = clean(env[name]);

  const result = schema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      const value = raw[name];
      const message = `${name} ${issue.message}`;
      // Belt and braces: no message template may leak a secret, whatever it says.
      return SECRET_VARS.has(name) && value ? message.split(value).join("***") : message;
    }));
  }

  const v = result.data;
  // Webhook mode answers only what webhooks approve: something must deliver them.
  if (v.ANSWER_MODE === "webhook" && v.WEBHOOK_PUBLIC_URL === undefined && v.WEBHOOK_VERIFICATION_TOKEN === undefined) {
    throw new ConfigError([
      "ANSWER_MODE is webhook but WEBHOOK_PUBLIC_URL is not set: set it so the host subscribes to telephony events (or set WEBHOOK_VERIFICATION_TOKEN if you manage the subscription yourself)",
    ]);
  }
  return {
    ringcentral: {
      serverUrl: v.RINGCENTRAL_SERVER_URL,
      ...(v.RINGCENTRAL_CLIENT_ID !== undefined && { clientId: v.RINGCENTRAL_CLIENT_ID }),
      ...(v.RINGCENTRAL_CLIENT_SECRET !== undefined && { clientSecret: v.RINGCENTRAL_CLIENT_SECRET }),
      ...(v.RINGCENTRAL_JWT_TOKEN !== undefined && { jwt: v.RINGCENTRAL_JWT_TOKEN }),
      insecureSipTls: v.RINGCENTRAL_SIP_INSECURE_TLS,
    },
    pipeline: {
      url: v.PIPELINE_URL,
      protocol: v.PIPELINE_PROTOCOL,
      audio: v.PIPELINE_AUDIO,
      l16SampleRate: v.PIPELINE_SAMPLE_RATE,
      connectTimeoutMs: v.PIPELINE_CONNECT_TIMEOUT_MS,
      downAction: v.PIPELINE_DOWN_ACTION,
      dropAction: v.PIPELINE_DROP_ACTION,
      playoutLeadMs: v.PLAYOUT_LEAD_MS,
    },
    chrome: { headless: v.HEADLESS, ...(v.CHROME_PATH !== undefined && { executablePath: v.CHROME_PATH }) },
    http: { host: v.HTTP_HOST, port: v.HTTP_PORT },
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
  };
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
    pipeline: { ...config.pipeline, url: redactUrl(config.pipeline.url) },
    chrome: { headless: config.chrome.headless, executablePath: config.chrome.executablePath ?? "(auto-detect)" },
    http: { ...config.http },
    answer: { ...config.answer, allow: config.answer.allow.map(String), deny: config.answer.deny.map(String) },
    webhook: { ...config.webhook, verificationToken: config.webhook.verificationToken ? "***" : "(random per start)" },
    apiToken: config.apiToken ? "***" : "(not set)",
    recordingsDir: config.recordingsDir ?? "(off)",
    logLevel: config.logLevel,
    sipInfoCachePath: config.sipInfoCachePath,
  };
}

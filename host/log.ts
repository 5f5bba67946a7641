import pino, { type DestinationStream, type Logger } from "pino";
import type { LogLevel } from "./config.ts";

export type { Logger } from "pino";

/** Keys whose value is a secret wherever they appear (exact, case-sensitive names). */
export const SECRET_KEYS: readonly string[] = [
  "password", "secret", "clientSecret", "client_secret",
  "jwt", "jwtToken", "assertion", "token", "apiKey", "api_key",
  "accessToken", "access_token", "refreshToken", "refresh_token",
  "authorization", "Authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
  "RINGCENTRAL_CLIENT_SECRET", "RINGCENTRAL_JWT_TOKEN",
];

// pino's `*.key` matches exactly one level, so spell out each depth we care about
// (e.g. `call.sipInfo.auth.password` is depth 3).
const MAX_DEPTH = 4;

function redactPaths(keys: readonly string[]): string[] {
  const paths: string[] = [];
  for (const key of keys) {
    const leaf = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
    for (let depth = 0; depth <= MAX_DEPTH; depth++) {
      const prefix = "*.".repeat(depth);
      paths.push(leaf.startsWith("[") ? prefix.slice(0, -1) + leaf : prefix + leaf);
    }
  }
  return paths;
}

export const REDACT_CENSOR = "***";

export interface LoggerOptions {
  /** Where JSON lines go; stdout by default (tests pass a stream). */
  destination?: DestinationStream;
  /** Extra base fields, e.g. `{ instance: "host-2" }`. */
  base?: Record<string, unknown>;
}

/** Structured JSON lines with secrets redacted by key, whatever object they hide in. */
export function createLogger(level: LogLevel = "info", opts: LoggerOptions = {}): Logger {
  return pino(
    {
      level,
      base: { service: "rc-voice-host", ...opts.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Labels rather than numbers: readable by people and by log shippers alike.
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: redactPaths(SECRET_KEYS), censor: REDACT_CENSOR },
    },
    // Synchronous stdout: the last lines before a crash or exit are the ones that matter.
    opts.destination ?? pino.destination(1),
  );
}

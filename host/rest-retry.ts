import { setTimeout as sleep } from "node:timers/promises";
import pRetry from "p-retry";
import type { Logger } from "pino";
import type { Counter } from "prom-client";
import { BACKOFF, retryWaitMs, type BackoffOptions } from "./backoff.ts";

/**
 * The retry policy for every RingCentral REST call the host makes. Exponential backoff with full
 * jitter: retry n waits a random time in [0, min(cap, base · 2^(n-1))), or the `Retry-After`
 * RingCentral asked for if that is longer, and never more than the cap.
 */
/** Each request (token requests included) is abandoned after this and retried as a timeout. */
export const REQUEST_TIMEOUT_MS = 15_000;

/** Every REST call, by what it does: the `operation` label of `rcvh_rest_retries_total`. */
export type RestOperation =
  | "login"
  | "refresh"
  | "extension"
  | "sip-provision"
  | "subscription-list"
  | "subscription-create"
  | "subscription-renew"
  | "subscription-delete"
  | "call-control-answer";

/** Why a call is retried: the `reason` label. */
export type RetryReason = "network" | "timeout" | "rate-limited" | "server-error";

export type Verdict = { retry: true; reason: RetryReason; status?: number; retryAfterMs?: number } | { retry: false; status?: number };

/** Socket and DNS failures worth another try (Node's and undici's codes). */
const NETWORK_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN",
  "EHOSTUNREACH", "EHOSTDOWN", "ENETUNREACH", "ENETDOWN",
  "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CLOSED",
]);

interface ErrorShape {
  name?: string;
  message?: string;
  code?: string;
  type?: string;
  cause?: { code?: string };
  response?: { status?: number; headers?: { get(name: string): string | null } };
}

/**
 * Retryable: network errors, timeouts, 429 and 5xx. Everything else is definitive: 4xx (bad
 * credentials, a missing permission, a wrong server), and errors with no response that are not
 * network errors (the SDK's own checks, bugs).
 */
export function classifyRestError(err: unknown, nowMs = Date.now()): Verdict {
  const e = (err ?? {}) as ErrorShape;
  const status = e.response?.status;
  if (status !== undefined) {
    if (status === 429 || (status >= 500 && status <= 599)) {
      const retryAfterMs = parseRetryAfter(e.response?.headers?.get("retry-after"), nowMs);
      return { retry: true, reason: status === 429 ? "rate-limited" : "server-error", status, retryAfterMs };
    }
    return { retry: false, status };
  }
  // node-fetch (the SDK's fetch in Node): `request-timeout`/`body-timeout`; undici and AbortSignal.timeout: TimeoutError.
  if (e.type === "request-timeout" || e.type === "body-timeout" || e.name === "TimeoutError") return { retry: true, reason: "timeout" };
  const code = e.code ?? e.cause?.code;
  if ((code && NETWORK_CODES.has(code)) || e.type === "system" || (e.name === "TypeError" && e.message === "fetch failed")) return { retry: true, reason: "network" };
  return { retry: false };
}

/** `Retry-After` as milliseconds from now: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined if absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, nowMs = Date.now()): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  if (!/[a-z]/i.test(v)) return undefined; // "-5", "1e3": neither seconds nor a date
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

export interface RunOptions {
  /** Stops retrying (and abandons the attempt under way) when aborted: the host stopping, a deadline. */
  signal?: AbortSignal;
  /** How many attempts in all; unbounded by default (a signal bounds them instead). */
  attempts?: number;
  /** The level of each retry's log line (default warn). */
  level?: "warn" | "error";
}

/** One line for people: status and message, or the network error's code. */
export function restFailure(err: unknown): string {
  const e = (err ?? {}) as ErrorShape;
  if (e.response?.status) return `${e.response.status}: ${e.message ?? ""}`.trim();
  const code = e.code ?? e.cause?.code;
  return code ? `${code}: ${e.message ?? ""}` : (e.message ?? String(err));
}

/** Runs REST calls under the policy; logs every retry with its wait and counts it by operation and reason. */
export class RestRetry {
  private readonly backoff: BackoffOptions;

  constructor(
    private readonly log: Logger,
    private readonly retries?: Counter<"operation" | "reason">,
    backoff: Partial<BackoffOptions> = {},
  ) {
    this.backoff = { ...BACKOFF, ...backoff };
  }

  /**
   * `call` gets the signal to pass on to its request. A definitive failure is thrown at once, as
   * it came (with `operation` set on it); so is the last failure when the signal ends the retries.
   */
  async run<T>(operation: RestOperation, call: (signal: AbortSignal) => Promise<T>, opts: RunOptions = {}): Promise<T> {
    const signal = opts.signal ?? new AbortController().signal;
    let last: unknown;
    try {
      return await pRetry(
        async () => {
          signal.throwIfAborted();
          return await untilAborted(call(signal), signal);
        },
        {
          retries: (opts.attempts ?? Infinity) - 1,
          // The wait is ours (full jitter, Retry-After), taken in onFailedAttempt: p-retry adds none.
          minTimeout: 0,
          signal,
          onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
            if (signal.aborted) throw last ?? error;
            last = error;
            const verdict = classifyRestError(error);
            if (!verdict.retry || retriesLeft === 0) throw error;
            const waitMs = retryWaitMs(attemptNumber, verdict.retryAfterMs, this.backoff);
            this.retries?.inc({ operation, reason: verdict.reason });
            this.log[opts.level ?? "warn"](
              { operation, attempt: attemptNumber, reason: verdict.reason, status: verdict.status, retryAfterMs: verdict.retryAfterMs, waitMs, err: restFailure(error) },
              `ringcentral: ${operation} failed (${restFailure(error)}), retrying in ${waitMs} ms`,
            );
            await sleep(waitMs, undefined, { signal }).catch(() => {
              throw error;
            });
          },
        },
      );
    } catch (err) {
      // An abort between or during attempts ends with what RingCentral last said, if it said anything.
      const out = signal.aborted && last !== undefined ? last : err;
      if (out && typeof out === "object" && !("operation" in out)) Object.assign(out, { operation });
      throw out;
    }
  }
}

/** The call, or the signal's reason once it aborts (the request itself is aborted by the signal it was given). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

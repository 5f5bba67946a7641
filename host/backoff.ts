/**
 * Exponential backoff with full jitter, for everything the host retries: RingCentral (REST calls
 * in ./rest-retry.ts, SIP reconnects in ./sip-recovery.ts) and the call events' receiver
 * (./event-delivery.ts). Retry n waits a random time in [0, min(cap, base · 2^(n-1))), so a
 * fleet of hosts does not retry in step.
 */
export const RETRY_BASE_MS = 500;
export const RETRY_CAP_MS = 30_000;

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  /** [0, 1), like Math.random. */
  random: () => number;
}

export const BACKOFF: BackoffOptions = { baseMs: RETRY_BASE_MS, capMs: RETRY_CAP_MS, random: Math.random };

/** The wait before retry `retry` (1 = the first retry): full jitter, at least `Retry-After`, at most the cap. */
export function retryWaitMs(retry: number, retryAfterMs: number | undefined, o: BackoffOptions = BACKOFF): number {
  const ceilingMs = Math.min(o.capMs, o.baseMs * 2 ** Math.min(retry - 1, 30));
  const jitteredMs = Math.floor(o.random() * ceilingMs);
  return Math.min(o.capMs, Math.max(retryAfterMs ?? 0, jitteredMs));
}


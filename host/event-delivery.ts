/**
 * Delivers the spool's events to EVENTS_URL, oldest first, one at a time (so a receiver sees them
 * in the order this host emitted them), signed the Standard Webhooks way: webhook-id (the event's
 * id, the same on every retry), webhook-timestamp, webhook-signature (HMAC-SHA256 with the
 * EVENTS_SECRET). 2xx: delivered, removed. 4xx but 408/429: the receiver refuses it for good:
 * dropped, counted, logged. Anything else (5xx, 408, 429, network, timeout): retried with
 * backoff (./backoff.ts, at least Retry-After), the event staying first in line.
 */
import type { Logger } from "pino";
import { Webhook } from "standardwebhooks";
import { BACKOFF, retryWaitMs, type BackoffOptions } from "./backoff.ts";
import type { EventSpool } from "./event-spool.ts";

/** One POST may take this long before it counts as failed (and is retried). */
export const DELIVERY_TIMEOUT_MS = 10_000;

export interface DeliveryCounters {
  delivered(type: string): void;
  failed(reason: string): void;
  dropped(reason: string): void;
}

export interface DeliveryOptions {
  url: string;
  /** whsec_<base64> */
  secret: string;
  spool: EventSpool;
  log: Logger;
  counters: DeliveryCounters;
  backoff?: BackoffOptions;
  timeoutMs?: number;
}

type Outcome = { kind: "delivered" } | { kind: "dropped"; status: number } | { kind: "retry"; reason: string; retryAfterMs?: number };

const RETRYABLE_4XX = new Set([408, 429]);

export class EventDelivery {
  private readonly signer: Webhook;
  private running = false;
  private stopped = false;
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly o: DeliveryOptions) {
    this.signer = new Webhook(o.secret);
    o.spool.onAppend(() => this.nudge());
  }

  /** Starts delivering (what a previous run left first); returns at once. */
  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.loop = this.run();
  }

  /**
   * Stops after at most `graceMs` more of trying: events still undelivered stay in the spool for
   * the next start.
   */
  async stop(graceMs = 0): Promise<void> {
    if (this.stopped) return;
    if (graceMs > 0 && this.o.spool.size > 0) {
      await Promise.race([this.drained(), new Promise((r) => setTimeout(r, graceMs).unref())]);
    }
    this.stopped = true;
    this.abort.abort();
    this.nudge();
    await this.loop;
  }

  private nudge(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Resolves once the spool is empty. */
  private async drained(): Promise<void> {
    while (this.o.spool.size > 0 && !this.stopped) await new Promise((r) => setTimeout(r, 50));
  }

  private async run(): Promise<void> {
    let retry = 0;
    while (!this.stopped) {
      const next = await this.o.spool.peek();
      if (!next) {
        // Checked as the wait begins: an append that landed while peek() ran is not missed.
        await new Promise<void>((resolve) => (this.o.spool.size > 0 || this.stopped ? resolve() : (this.wake = resolve)));
        continue;
      }
      const outcome = await this.send(next.event);
      if (this.stopped && outcome.kind === "retry") return;
      if (outcome.kind === "delivered") {
        this.o.counters.delivered(next.event.type);
        await this.o.spool.remove(next.seq);
        retry = 0;
        continue;
      }
      if (outcome.kind === "dropped") {
        this.o.counters.dropped("refused");
        this.o.log.error({ event: next.event.id, type: next.event.type, status: outcome.status }, "events: the receiver refused the event (4xx): dropped");
        await this.o.spool.remove(next.seq);
        retry = 0;
        continue;
      }
      retry++;
      this.o.counters.failed(outcome.reason);
      const waitMs = retryWaitMs(retry, outcome.retryAfterMs, this.o.backoff ?? BACKOFF);
      this.o.log.warn({ event: next.event.id, type: next.event.type, reason: outcome.reason, retry, waitMs }, "events: delivery failed, retrying");
      await this.sleep(waitMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.abort.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
    });
  }

  private async send(event: { id: string; type: string; timestamp: string; data: unknown }): Promise<Outcome> {
    const body = JSON.stringify({ type: event.type, timestamp: event.timestamp, data: event.data });
    const now = new Date();
    const headers = {
      "content-type": "application/json",
      "webhook-id": event.id,
      "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
      "webhook-signature": this.signer.sign(event.id, now, body),
    };
    try {
      const res = await fetch(this.o.url, {
        method: "POST",
        headers,
        body,
        redirect: "manual",
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.o.timeoutMs ?? DELIVERY_TIMEOUT_MS)]),
      });
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) return { kind: "delivered" };
      if (res.status >= 400 && res.status < 500 && !RETRYABLE_4XX.has(res.status)) return { kind: "dropped", status: res.status };
      // Bounded labels: 408, 429, 5xx, or 3xx (a redirect is not followed: the URL is wrong).
      const reason = res.status >= 500 ? "http-5xx" : res.status < 400 ? "http-3xx" : `http-${res.status}`;
      return { kind: "retry", reason, retryAfterMs: retryAfterMs(res.headers.get("retry-after")) };
    } catch (err) {
      return { kind: "retry", reason: (err as Error).name === "TimeoutError" ? "timeout" : "network" };
    }
  }
}

/** Retry-After in seconds (or an HTTP date) → ms; capped by the backoff's cap anyway. */
function retryAfterMs(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

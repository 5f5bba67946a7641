import { randomUUID } from "node:crypto";
import type { Logger } from "pino";

/**
 * Outgoing webhook HTTP: the Validation-Token handshake and event deliveries, each recorded
 * for the /twin/webhooks control route. Deliveries for one subscription go out strictly one at
 * a time, in order, as RingCentral's own delivery does for a subscription.
 */
export const WEBHOOK_USER_AGENT = "RingCentral-Webhook/8.3";

export interface WebhookLogEntry {
  subscriptionId: string;
  kind: "validation" | "event";
  url: string;
  /** Exactly what was sent, tokens included: this log exists to let tests check them. */
  requestHeaders: Record<string, string>;
  /** The JSON payload of an event; "" for the handshake, whose body is empty. */
  body: unknown;
  /** HTTP status, or null when no response came (refused, timed out, cancelled). */
  status: number | null;
  error?: string;
  sentAt: string;
  durationMs: number;
}

export type ValidationOutcome =
  | { ok: true }
  | { ok: false; reason: "unreachable" | "no-echo" | "too-large"; detail: string };

export interface WebhookOptions {
  /** RingCentral gives the receiver 3000 ms to echo the Validation-Token. */
  validationTimeoutMs?: number;
  deliveryTimeoutMs?: number;
  /** RingCentral caps the handshake response (headers + body) at 1024 bytes; the twin checks the body. */
  maxValidationBodyBytes?: number;
  maxLogEntries?: number;
}

/** The twin is offline: it only ever sends to loopback. Returns a reason when the address is not acceptable. */
export function checkWebhookAddress(address: string): { ok: true; url: URL } | { ok: false; why: string } {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    return { ok: false, why: "not a valid URL" };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return { ok: false, why: "only http(s) addresses are supported" };
  // WHATWG URL already normalises 127.1, 0x7f.0.0.1, etc. to dotted quads and IPv6 to [::1].
  const host = url.hostname.toLowerCase();
  const loopback = host === "localhost" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
  if (!loopback) {
    return { ok: false, why: `the twin is offline and delivers only to loopback addresses (127.0.0.0/8, localhost, [::1]), not ${host}` };
  }
  return { ok: true, url };
}

interface Queue {
  tail: Promise<void>;
  /** Aborts the request in flight and marks everything queued before it as dropped. */
  controller: AbortController;
}

export class WebhookDeliveries {
  private readonly entries: WebhookLogEntry[] = [];
  private readonly queues = new Map<string, Queue>();
  private readonly opts: Required<WebhookOptions>;
  private stopped = false;

  constructor(
    private readonly log: Logger,
    options: WebhookOptions = {},
  ) {
    this.opts = { validationTimeoutMs: 3000, deliveryTimeoutMs: 3000, maxValidationBodyBytes: 1024, maxLogEntries: 2000, ...options };
  }

  /** The handshake: POST with `Validation-Token` and an empty body; the receiver must answer 2xx echoing it. */
  async validate(subscriptionId: string, address: string): Promise<ValidationOutcome> {
    const checked = checkWebhookAddress(address);
    if (!checked.ok) return { ok: false, reason: "unreachable", detail: checked.why };
    const token = randomUUID();
    const requestHeaders = { "Validation-Token": token, "User-Agent": WEBHOOK_USER_AGENT };
    const entry = this.begin(subscriptionId, "validation", address, requestHeaders, "");
    const started = performance.now();
    let outcome: ValidationOutcome;
    try {
      const res = await fetch(checked.url, {
        method: "POST",
        headers: requestHeaders,
        redirect: "manual", // a redirect must not lead the twin off loopback
        signal: AbortSignal.timeout(this.opts.validationTimeoutMs),
      });
      const text = await res.text();
      entry.status = res.status;
      const echoed = res.headers.get("validation-token");
      if (res.status < 200 || res.status > 299) outcome = { ok: false, reason: "no-echo", detail: `receiver answered HTTP ${res.status}` };
      else if (echoed !== token) outcome = { ok: false, reason: "no-echo", detail: echoed ? "Validation-Token header does not match" : "Validation-Token header not echoed" };
      else if (Buffer.byteLength(text) > this.opts.maxValidationBodyBytes) outcome = { ok: false, reason: "too-large", detail: `response body is ${Buffer.byteLength(text)} bytes (max ${this.opts.maxValidationBodyBytes})` };
      else outcome = { ok: true };
    } catch (err) {
      entry.status = null;
      outcome = { ok: false, reason: "unreachable", detail: describeFetchError(err, this.opts.validationTimeoutMs) };
    }
    if (!outcome.ok) entry.error = outcome.detail;
    this.finish(entry, started);
    return outcome;
  }

  /**
   * Queues one event delivery behind any earlier ones for the same subscription. Resolves with the
   * log entry once sent (never rejects), or undefined if the subscription was cancelled first.
   */
  deliver(subscriptionId: string, address: string, payload: unknown, verificationToken?: string): Promise<WebhookLogEntry | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    const queue = this.queueFor(subscriptionId);
    const { controller } = queue;
    const run = queue.tail.then(() => (controller.signal.aborted ? undefined : this.send(subscriptionId, address, payload, verificationToken, controller.signal)));
    queue.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Drops queued deliveries and aborts the one in flight (subscription deleted or expired). */
  cancel(subscriptionId: string): void {
    const queue = this.queues.get(subscriptionId);
    if (!queue) return;
    queue.controller.abort();
    this.queues.delete(subscriptionId);
  }

  /** Resolves once every queue has drained: lets tests and shutdown wait without sleeping. */
  async idle(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.tail));
  }

  list(): WebhookLogEntry[] {
    return this.entries.map((e) => ({ ...e, requestHeaders: { ...e.requestHeaders } }));
  }

  clear(): void {
    this.entries.length = 0;
  }

  stop(): void {
    this.stopped = true;
    for (const id of [...this.queues.keys()]) this.cancel(id);
  }

  private queueFor(subscriptionId: string): Queue {
    let queue = this.queues.get(subscriptionId);
    if (!queue) {
      queue = { tail: Promise.resolve(), controller: new AbortController() };
      this.queues.set(subscriptionId, queue);
    }
    return queue;
  }

  private async send(subscriptionId: string, address: string, payload: unknown, verificationToken: string | undefined, cancelled: AbortSignal): Promise<WebhookLogEntry> {
    const requestHeaders: Record<string, string> = {
      "Content-Type": "application/json; charset=UTF-8",
      "User-Agent": WEBHOOK_USER_AGENT,
      ...(verificationToken ? { "Verification-Token": verificationToken } : {}),
    };
    const entry = this.begin(subscriptionId, "event", address, requestHeaders, payload);
    const started = performance.now();
    const checked = checkWebhookAddress(address);
    try {
      if (!checked.ok) throw new Error(checked.why);
      const res = await fetch(checked.url, {
        method: "POST",
        headers: requestHeaders,
        body: JSON.stringify(payload),
        redirect: "manual",
        signal: AbortSignal.any([cancelled, AbortSignal.timeout(this.opts.deliveryTimeoutMs)]),
      });
      await res.arrayBuffer(); // drain, so the connection is reusable and durationMs covers the whole exchange
      entry.status = res.status;
      if (res.status < 200 || res.status > 299) entry.error = `receiver answered HTTP ${res.status}`;
    } catch (err) {
      entry.status = null;
      entry.error = cancelled.aborted ? "cancelled: subscription ended" : describeFetchError(err, this.opts.deliveryTimeoutMs);
    }
    this.finish(entry, started);
    if (entry.error) this.log.warn({ subscriptionId, url: address, status: entry.status, error: entry.error }, "webhook delivery failed");
    return entry;
  }

  private begin(subscriptionId: string, kind: WebhookLogEntry["kind"], url: string, requestHeaders: Record<string, string>, body: unknown): WebhookLogEntry {
    return { subscriptionId, kind, url, requestHeaders, body, status: null, sentAt: new Date().toISOString(), durationMs: 0 };
  }

  private finish(entry: WebhookLogEntry, startedMs: number): void {
    entry.durationMs = Math.round((performance.now() - startedMs) * 10) / 10;
    this.entries.push(entry);
    if (this.entries.length > this.opts.maxLogEntries) this.entries.splice(0, this.entries.length - this.opts.maxLogEntries);
    this.log.debug({ subscriptionId: entry.subscriptionId, kind: entry.kind, status: entry.status, durationMs: entry.durationMs }, "webhook sent");
  }
}

function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === "TimeoutError") return `no response within ${timeoutMs} ms`;
  if (e?.cause?.code) return `${e.cause.code}${e.cause.message ? `: ${e.cause.message}` : ""}`;
  return e?.message ?? String(err);
}

import type { Logger } from "pino";
import type { Gauge } from "prom-client";
import { RETRY_CAP_MS } from "./backoff.ts";
import { restFailure } from "./rest-retry.ts";
import type { RingCentral } from "./ringcentral.ts";

const FILTER = "/restapi/v1.0/account/~/extension/~/telephony/sessions";
/** Renew when a fifth of the lifetime is left, and at least 30 s (or half of a short lifetime) before expiry. */
const RENEW_AT = 0.2;
/** The delete at stop must fit in the shutdown's grace. */
const DELETE_AT_STOP_WITHIN_MS = 3000;

interface SubscriptionInfo {
  id: string;
  expiresIn: number;
  status: string;
  deliveryMode?: { address?: string };
}

/**
 * The telephony/sessions webhook subscription: subscriptions an earlier run left at our address
 * removed, ours created at start, renewed before it expires, recreated when RingCentral has lost
 * it, deleted on shutdown. Every call runs under the REST retry policy; a renewal that still
 * fails is logged at error and the subscription recreated, so the host is never left without one
 * unnoticed (`rcvh_webhook_subscribed` says whether it has one).
 */
export class SubscriptionKeeper {
  private id: string | undefined;
  private expiresAtMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly stopping = new AbortController();
  created = 0;
  renewed = 0;
  /** Subscriptions at our address that were not ours, removed. */
  removed = 0;

  constructor(
    private readonly rc: RingCentral,
    private readonly address: string,
    private readonly verificationToken: string,
    private readonly expiresS: number,
    private readonly log: Logger,
    private readonly subscribed?: Gauge,
  ) {}

  get subscriptionId(): string | undefined {
    return this.id;
  }

  /** Transient failures are retried until they pass or the host stops; a definitive one is thrown. */
  async start(): Promise<void> {
    await this.removeStale();
    await this.create();
  }

  /**
   * A crashed run leaves its subscription behind, and RingCentral would deliver every event to
   * both: the address names this host, so any subscription at it other than ours is stale.
   */
  private async removeStale(): Promise<void> {
    const signal = this.stopping.signal;
    const list = (await (await this.rc.request("subscription-list", "GET", "/restapi/v1.0/subscription", undefined, { signal })).json()) as { records?: SubscriptionInfo[] };
    for (const sub of list.records ?? []) {
      if (sub.deliveryMode?.address !== this.address || sub.id === this.id) continue;
      await this.rc.request("subscription-delete", "DELETE", `/restapi/v1.0/subscription/${sub.id}`, undefined, { signal }).catch((err) => {
        if ((err as { response?: { status?: number } }).response?.status !== 404) throw err;
      });
      this.removed++;
      this.log.warn({ subscriptionId: sub.id, status: sub.status, address: this.address }, "webhook: removed a subscription an earlier run left at our address");
    }
  }

  private async create(): Promise<void> {
    const res = await this.rc.request(
      "subscription-create",
      "POST",
      "/restapi/v1.0/subscription",
      { eventFilters: [FILTER], deliveryMode: { transportType: "WebHook", address: this.address, verificationToken: this.verificationToken }, expiresIn: this.expiresS },
      { signal: this.stopping.signal },
    );
    const info = (await res.json()) as SubscriptionInfo;
    if (this.stopping.signal.aborted) {
      // stop() came while RingCentral was answering: nobody will renew it. The next start's sweep removes it if this fails.
      await this.rc.request("subscription-delete", "DELETE", `/restapi/v1.0/subscription/${info.id}`, undefined, { signal: AbortSignal.timeout(DELETE_AT_STOP_WITHIN_MS) }).catch(() => {});
      return;
    }
    this.id = info.id;
    this.created++;
    this.subscribed?.set(1);
    this.log.info({ subscriptionId: info.id, expiresIn: info.expiresIn, address: this.address }, "webhook: subscribed to telephony events");
    this.schedule(info.expiresIn);
  }

  private schedule(expiresInS: number): void {
    clearTimeout(this.timer);
    if (this.stopping.signal.aborted) return;
    this.expiresAtMs = Date.now() + expiresInS * 1000;
    const leadS = Math.max(expiresInS * RENEW_AT, Math.min(30, expiresInS / 2));
    const inMs = Math.max(500, (expiresInS - leadS) * 1000);
    this.timer = setTimeout(() => void this.renew(), inMs);
    this.timer.unref();
  }

  /** Retried until the subscription would expire; after that, or once RingCentral lost it, a new one is made. */
  private async renew(): Promise<void> {
    if (this.stopping.signal.aborted || !this.id) return;
    const untilExpiry = AbortSignal.timeout(Math.max(1000, this.expiresAtMs - Date.now()));
    try {
      const res = await this.rc.request("subscription-renew", "POST", `/restapi/v1.0/subscription/${this.id}/renew`, undefined, {
        signal: AbortSignal.any([this.stopping.signal, untilExpiry]),
        level: "error",
      });
      const info = (await res.json()) as SubscriptionInfo;
      if (info.status !== "Active") throw new Error(`subscription is ${info.status}`);
      this.renewed++;
      this.log.info({ subscriptionId: this.id, expiresIn: info.expiresIn }, "webhook: subscription renewed");
      this.schedule(info.expiresIn);
    } catch (err) {
      if (this.stopping.signal.aborted) return;
      const lost = (err as { response?: { status?: number } }).response?.status === 404;
      this.log.error(
        { subscriptionId: this.id, err: restFailure(err) },
        lost ? "webhook: RingCentral lost the subscription, recreating it" : untilExpiry.aborted ? "webhook: renewal failed until the subscription expired, recreating it" : "webhook: renewal refused, recreating the subscription",
      );
      this.id = undefined;
      this.subscribed?.set(0);
      await this.recover();
    }
  }

  /** Sweeps and creates under the policy; a definitive refusal (say the webhook address is down) is tried again after the policy's cap. */
  private async recover(): Promise<void> {
    try {
      await this.removeStale();
      await this.create();
    } catch (err) {
      if (this.stopping.signal.aborted) return;
      this.log.error({ err: restFailure(err), retryInMs: RETRY_CAP_MS }, "webhook: could not recreate the subscription, the host gets no telephony events until it can");
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.recover(), RETRY_CAP_MS);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.timer);
    if (!this.id) return;
    const id = this.id;
    this.id = undefined;
    this.subscribed?.set(0);
    try {
      await this.rc.request("subscription-delete", "DELETE", `/restapi/v1.0/subscription/${id}`, undefined, { signal: AbortSignal.timeout(DELETE_AT_STOP_WITHIN_MS) });
      this.log.info({ subscriptionId: id }, "webhook: subscription deleted");
    } catch (err) {
      this.log.warn({ subscriptionId: id, err: restFailure(err) }, "webhook: could not delete the subscription");
    }
  }
}

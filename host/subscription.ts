import type { Logger } from "pino";
import type { RingCentral } from "./ringcentral.ts";

const FILTER = "/restapi/v1.0/account/~/extension/~/telephony/sessions";
/** Renew when a fifth of the lifetime is left, and at least 30 s (or half of a short lifetime) before expiry. */
const RENEW_AT = 0.2;

interface SubscriptionInfo {
  id: string;
  expiresIn: number;
  status: string;
}

/**
 * The telephony/sessions webhook subscription: created at start, renewed before it expires,
 * recreated when RingCentral has lost it, deleted on shutdown.
 */
export class SubscriptionKeeper {
  private id: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  created = 0;
  renewed = 0;

  constructor(
    private readonly rc: RingCentral,
    private readonly address: string,
    private readonly verificationToken: string,
    private readonly expiresS: number,
    private readonly log: Logger,
  ) {}

  get subscriptionId(): string | undefined {
    return this.id;
  }

  async start(): Promise<void> {
    await this.create();
  }

  private async create(): Promise<void> {
    const res = await this.rc.platform.post("/restapi/v1.0/subscription", {
      eventFilters: [FILTER],
      deliveryMode: { transportType: "WebHook", address: this.address, verificationToken: this.verificationToken },
      expiresIn: this.expiresS,
    });
    const info = (await res.json()) as SubscriptionInfo;
    this.id = info.id;
    this.created++;
    this.log.info({ subscriptionId: info.id, expiresIn: info.expiresIn, address: this.address }, "webhook: subscribed to telephony events");
    this.schedule(info.expiresIn);
  }

  private schedule(expiresInS: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const leadS = Math.max(expiresInS * RENEW_AT, Math.min(30, expiresInS / 2));
    const inMs = Math.max(500, (expiresInS - leadS) * 1000);
    this.timer = setTimeout(() => void this.renew(), inMs);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    if (this.stopped || !this.id) return;
    try {
      const res = await this.rc.platform.post(`/restapi/v1.0/subscription/${this.id}/renew`);
      const info = (await res.json()) as SubscriptionInfo;
      if (info.status !== "Active") throw Object.assign(new Error(`subscription is ${info.status}`), { lost: true });
      this.renewed++;
      this.log.info({ subscriptionId: this.id, expiresIn: info.expiresIn }, "webhook: subscription renewed");
      this.schedule(info.expiresIn);
    } catch (err) {
      const e = err as { response?: { status?: number }; lost?: boolean; message: string };
      if (e.lost || e.response?.status === 404) {
        this.log.warn({ subscriptionId: this.id, err: e.message }, "webhook: RingCentral lost the subscription, recreating");
        this.id = undefined;
        await this.create().catch((err2) => this.retry(err2));
      } else this.retry(err);
    }
  }

  private retry(err: unknown): void {
    this.log.error({ err: (err as Error).message }, "webhook: subscription renewal failed, retrying in 10 s");
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => void (this.id ? this.renew() : this.create().catch((e) => this.retry(e))), 10_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.id) return;
    await this.rc.platform.delete(`/restapi/v1.0/subscription/${this.id}`).catch((err) => this.log.warn({ err: (err as Error).message }, "webhook: could not delete the subscription"));
    this.log.info({ subscriptionId: this.id }, "webhook: subscription deleted");
    this.id = undefined;
  }
}

import { randomBytes, randomUUID } from "node:crypto";
import type { TwinExtension } from "../account.ts";
import type { TwinContext } from "../context.ts";
import type { TelephonySessionEventBody } from "../telephony.ts";
import { checkWebhookAddress, type WebhookDeliveries } from "../webhooks.ts";
import { ApiError, rcErrors } from "./errors.ts";
import { type EventFilter, parseEventFilters } from "./event-filters.ts";
import { resourceUri } from "./ids.ts";

export type SubscriptionStatus = "Active" | "Expired";

export interface Subscription {
  id: string;
  creationTime: string;
  status: SubscriptionStatus;
  filters: EventFilter[];
  address: string;
  verificationToken?: string;
  /** The lifetime last asked for; renew starts a new period of this length. */
  expiresInS: number;
  expiresAtMs: number;
  /** The extension whose token created it: `~` in its filters, and the deliveries' `ownerId`. */
  owner: TwinExtension;
}

/** The shape RingCentral returns for a subscription (SubscriptionInfo). */
export interface SubscriptionInfo {
  uri: string;
  id: string;
  creationTime: string;
  status: SubscriptionStatus;
  eventFilters: string[];
  expirationTime: string;
  expiresIn: number;
  deliveryMode: { transportType: "WebHook"; address: string; encryption: false };
}

export interface SubscriptionOptions {
  /** RingCentral's documented default when expiresIn is omitted (older docs): 7 days. */
  defaultExpiresInS?: number;
  /** RingCentral's WebHook maximum: 10 years. */
  maxExpiresInS?: number;
  /** RingCentral allows 20 subscriptions per user per app (SUB-505 beyond). */
  maxActive?: number;
}

export interface CreateInput {
  /** The subscriber; default the account's first extension. */
  owner?: TwinExtension;
  eventFilters: string[];
  address: string;
  verificationToken?: string;
  expiresInS?: number;
}

export interface UpdateInput {
  eventFilters?: string[];
  address?: string;
  verificationToken?: string;
  expiresInS?: number;
}

/** setTimeout cannot wait longer than 2^31-1 ms (~24.8 days); longer lifetimes re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * WebHook subscriptions: the Validation-Token handshake before a subscription exists, expiry
 * timers, and fan-out of telephony events to every Active subscription whose filter matches.
 * Expired subscriptions stay listed with status "Expired" (and receive nothing) until deleted.
 */
export class Subscriptions {
  private readonly subs = new Map<string, Subscription>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly opts: Required<SubscriptionOptions>;
  private readonly log: TwinContext["log"];
  private readonly onEvent = (body: TelephonySessionEventBody) => this.dispatch(body);

  constructor(
    private readonly ctx: TwinContext,
    private readonly webhooks: WebhookDeliveries,
    options: SubscriptionOptions = {},
  ) {
    this.opts = { defaultExpiresInS: 604800, maxExpiresInS: 315360000, maxActive: 20, ...options };
    this.log = ctx.log.child({ component: "subscriptions" });
    ctx.telephony.on("event", this.onEvent);
  }

  async create(input: CreateInput): Promise<Subscription> {
    const owner = input.owner ?? this.ctx.account;
    const filters = parseEventFilters(this.ctx, input.eventFilters, owner);
    const active = [...this.subs.values()].filter((s) => s.status === "Active").length;
    if (active >= this.opts.maxActive) throw new ApiError(400, "SUB-505", "Subscriptions limit exceeded");
    const id = randomUUID();
    await this.handshake(id, input.address);
    const expiresInS = this.lifetime(input.expiresInS);
    const sub: Subscription = {
      id,
      creationTime: new Date().toISOString(),
      status: "Active",
      filters,
      address: input.address,
      verificationToken: input.verificationToken,
      expiresInS,
      expiresAtMs: Date.now() + expiresInS * 1000,
      owner,
    };
    this.subs.set(id, sub);
    this.arm(sub);
    this.log.info({ subscriptionId: id, address: sub.address, filters: filters.map((f) => f.expanded), expiresInS }, "subscription created");
    return sub;
  }

  get(id: string): Subscription | undefined {
    return this.subs.get(id);
  }

  list(): Subscription[] {
    return [...this.subs.values()];
  }

  /** PUT: new filters and/or lifetime; a new address is validated first and nothing changes if that fails. Always renews. */
  async update(id: string, input: UpdateInput): Promise<Subscription> {
    const sub = this.require(id);
    const filters = input.eventFilters ? parseEventFilters(this.ctx, input.eventFilters, sub.owner) : undefined;
    if (input.address !== undefined && input.address !== sub.address) await this.handshake(id, input.address);
    if (filters) sub.filters = filters;
    if (input.address !== undefined && input.address !== sub.address) {
      this.webhooks.cancel(id); // events queued for the old address are not re-routed
      sub.address = input.address;
    }
    if (input.verificationToken !== undefined) sub.verificationToken = input.verificationToken;
    return this.renew(id, input.expiresInS);
  }

  /** Starts a new lifetime; an Expired subscription becomes Active again. */
  renew(id: string, expiresInS?: number): Subscription {
    const sub = this.require(id);
    sub.expiresInS = this.lifetime(expiresInS ?? sub.expiresInS);
    sub.expiresAtMs = Date.now() + sub.expiresInS * 1000;
    sub.status = "Active";
    this.arm(sub);
    this.log.info({ subscriptionId: id, expiresInS: sub.expiresInS }, "subscription renewed");
    return sub;
  }

  delete(id: string): void {
    this.require(id);
    this.subs.delete(id);
    this.disarm(id);
    this.webhooks.cancel(id);
    this.log.info({ subscriptionId: id }, "subscription deleted");
  }

  info(sub: Subscription): SubscriptionInfo {
    const active = sub.status === "Active";
    return {
      uri: resourceUri(this.ctx, `/restapi/v1.0/subscription/${sub.id}`),
      id: sub.id,
      creationTime: sub.creationTime,
      status: sub.status,
      eventFilters: sub.filters.map((f) => f.expanded),
      expirationTime: new Date(sub.expiresAtMs).toISOString(),
      expiresIn: active ? Math.max(0, Math.round((sub.expiresAtMs - Date.now()) / 1000)) : 0,
      deliveryMode: { transportType: "WebHook", address: sub.address, encryption: false },
    };
  }

  /** Clears expiry timers and stops listening to telephony; subscriptions are kept for inspection. */
  stop(): void {
    this.ctx.telephony.off("event", this.onEvent);
    for (const id of [...this.timers.keys()]) this.disarm(id);
  }

  private dispatch(body: TelephonySessionEventBody): void {
    const now = Date.now();
    for (const sub of this.subs.values()) {
      // The timer may lag behind the clock by a few ms; the deadline is what counts.
      if (sub.status !== "Active" || sub.expiresAtMs <= now) continue;
      // One delivery per event and subscription, named after the narrowest matching filter: an
      // extension filter matches the events of sessions with a party on that extension.
      const onExtension = (f: EventFilter) => f.level === "extension" && body.parties.some((p) => p.extensionId === f.extensionId);
      const filter = sub.filters.find(onExtension) ?? sub.filters.find((f) => f.level === "account");
      if (!filter) continue;
      const payload = {
        uuid: BigInt(`0x${randomBytes(8).toString("hex")}`).toString(), // RingCentral's uuid is a long decimal string
        event: filter.expanded,
        timestamp: new Date().toISOString(),
        subscriptionId: sub.id,
        ownerId: sub.owner.extensionId,
        body,
      };
      void this.webhooks.deliver(sub.id, sub.address, payload, sub.verificationToken);
    }
  }

  private async handshake(id: string, address: string): Promise<void> {
    const checked = checkWebhookAddress(address);
    if (!checked.ok) throw rcErrors.invalidParameter("deliveryMode.address", checked.why);
    const outcome = await this.webhooks.validate(id, address);
    if (outcome.ok) return;
    this.log.warn({ subscriptionId: id, address, reason: outcome.reason, detail: outcome.detail }, "webhook validation failed");
    if (outcome.reason === "no-echo") throw new ApiError(400, "SUB-520", "Validation Token is not returned");
    if (outcome.reason === "too-large") throw new ApiError(400, "SUB-525", `WebHook server response is invalid: ${outcome.detail}`);
    throw new ApiError(400, "SUB-521", `WebHook server is not reachable: ${outcome.detail}`);
  }

  private lifetime(expiresInS: number | undefined): number {
    return Math.min(expiresInS ?? this.opts.defaultExpiresInS, this.opts.maxExpiresInS);
  }

  private require(id: string): Subscription {
    const sub = this.subs.get(id);
    if (!sub) throw rcErrors.notFound("subscriptionId", id);
    return sub;
  }

  private arm(sub: Subscription): void {
    this.disarm(sub.id);
    const waitMs = Math.min(Math.max(0, sub.expiresAtMs - Date.now()), MAX_TIMER_MS);
    const timer = setTimeout(() => {
      this.timers.delete(sub.id);
      if (sub.expiresAtMs > Date.now()) return this.arm(sub);
      sub.status = "Expired";
      this.webhooks.cancel(sub.id);
      this.log.info({ subscriptionId: sub.id }, "subscription expired");
    }, waitMs);
    timer.unref();
    this.timers.set(sub.id, timer);
  }

  private disarm(id: string): void {
    const timer = this.timers.get(id);
    if (timer) clearTimeout(timer);
    this.timers.delete(id);
  }
}

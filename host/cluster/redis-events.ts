import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { TelephonyEvent } from "../webhooks.ts";
import type { ClusterTiming } from "./cluster.ts";
import { defineScripts, type RunScript } from "./redis-connection.ts";
import type { ClusterKeys } from "./redis-keys.ts";

/** How long a delivery's uuid is remembered: RingCentral's retries of one delivery come well within it. */
export const EVENT_MEMORY_MS = 10 * 60_000;

/** KEYS subscriber; ARGV hostId, ttlMs → 1 leading (taken or renewed), 0 another host leads. */
const LEAD = `
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

/** KEYS subscriber; ARGV hostId: gives the lead up, if this host has it. */
const RESIGN = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * Webhook mode in a cluster: one host holds the extension's subscription (a lease renewed with
 * the heartbeat, taken over when its holder is lost), and each delivery, whichever host the load
 * balancer gave it to, is handled once (SET NX on its uuid) and heard by every host, since the
 * call rings on every host and the claims decide which one answers or fetches it.
 */
export class RedisEvents {
  private readonly run: RunScript;
  private listener: ((event: TelephonyEvent) => void) | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly keys: ClusterKeys,
    private readonly hostId: string,
    private readonly timing: ClusterTiming,
    private readonly log: Logger,
  ) {
    this.run = defineScripts(redis, { rcvhLead: LEAD, rcvhResign: RESIGN });
  }

  async start(listener: (event: TelephonyEvent) => void): Promise<void> {
    this.listener = listener;
    this.subscriber.on("message", (channel: string, message: string) => {
      if (channel !== this.keys.events) return;
      let event: TelephonyEvent;
      try {
        event = JSON.parse(message) as TelephonyEvent;
      } catch {
        return void this.log.warn("cluster: a webhook event that is not JSON, ignored");
      }
      this.listener?.(event);
    });
    await this.subscriber.subscribe(this.keys.events);
  }

  /** The first host to take the uuid publishes the event to all; false: another host already did. */
  async share(uuid: string, event: TelephonyEvent): Promise<boolean> {
    const first = await this.redis.set(this.keys.event(uuid), this.hostId, "PX", EVENT_MEMORY_MS, "NX");
    if (first !== "OK") return false;
    await this.redis.publish(this.keys.events, JSON.stringify(event));
    return true;
  }

  /** Takes or renews the subscription's lease; whether this host leads now. */
  async lead(): Promise<boolean> {
    return (await this.run("rcvhLead", [this.keys.subscriber], [this.hostId, this.timing.leaseTtlMs])) === 1;
  }

  async resign(): Promise<void> {
    await this.run("rcvhResign", [this.keys.subscriber], [this.hostId]);
  }
}

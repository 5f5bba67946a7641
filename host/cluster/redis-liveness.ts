import type { Redis } from "ioredis";
import type { ClusterTiming, HostRecord } from "./cluster.ts";
import type { ClusterKeys } from "./redis-keys.ts";

/**
 * Who is alive: each host's heartbeat is a key that expires (`heartbeatTtlMs`) unless written
 * again (every `heartbeatEveryMs`). A host in the `hosts` set without a heartbeat is lost; one
 * host per period (a SET NX PX lock) finds those and has them reaped.
 */
export class RedisLiveness {
  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
    private readonly hostId: string,
    private readonly timing: ClusterTiming,
  ) {}

  async beat(record: HostRecord): Promise<void> {
    await this.redis.multi().set(this.keys.host(this.hostId), JSON.stringify(record), "PX", this.timing.heartbeatTtlMs).sadd(this.keys.hosts, this.hostId).exec();
  }

  async isAlive(hostId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.host(hostId))) === 1;
  }

  /** The hosts with a live heartbeat. */
  async hosts(): Promise<HostRecord[]> {
    const ids = await this.redis.smembers(this.keys.hosts);
    if (!ids.length) return [];
    const values = await this.redis.mget(ids.map((id) => this.keys.host(id)));
    return values.flatMap((v) => {
      try {
        return v ? [JSON.parse(v) as HostRecord] : [];
      } catch {
        return [];
      }
    });
  }

  /** Lost hosts, if this host is the reaper of this period (else none). */
  async lostHosts(): Promise<string[]> {
    // Shorter than the period: the lock a host took last period is gone when its next attempt comes.
    const lock = await this.redis.set(this.keys.reaper, this.hostId, "PX", Math.round(this.timing.reapEveryMs * 0.75), "NX");
    if (lock !== "OK") return [];
    const ids = (await this.redis.smembers(this.keys.hosts)).filter((id) => id !== this.hostId);
    if (!ids.length) return [];
    const alive = await this.redis.mget(ids.map((id) => this.keys.host(id)));
    return ids.filter((_, i) => !alive[i]);
  }

  /** A reaped host leaves the set (it joins again if it comes back). */
  async forget(hostId: string): Promise<void> {
    await this.redis.srem(this.keys.hosts, hostId);
  }

  /** A clean stop: gone at once, not after the TTL. */
  async leave(): Promise<void> {
    await this.redis.multi().del(this.keys.host(this.hostId)).srem(this.keys.hosts, this.hostId).exec();
  }
}

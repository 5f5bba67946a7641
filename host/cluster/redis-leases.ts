import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { MAX_INSTANCES_PER_EXTENSION, type ClusterTiming } from "./cluster.ts";
import { defineScripts, type RunScript } from "./redis-connection.ts";
import type { ClusterKeys } from "./redis-keys.ts";

/**
 * ARGV prefix, hostId, ttlMs, slots, newInstanceId. The first slot free (or already ours) is
 * taken; its instanceId is made once and kept for good, so RingCentral sees the same few
 * instances across restarts. With none free: {-1, holder of each slot…}.
 */
const ACQUIRE = `
local slots = tonumber(ARGV[4])
for n = 0, slots - 1 do
  local lease = ARGV[1] .. 'lease:' .. n
  local cur = redis.call('GET', lease)
  if (not cur) or cur == ARGV[2] then
    redis.call('SET', lease, ARGV[2], 'PX', ARGV[3])
    local key = ARGV[1] .. 'instance:' .. n
    local id = redis.call('GET', key)
    if not id then
      id = ARGV[5]
      redis.call('SET', key, id)
    end
    return {n, id}
  end
end
local holders = {-1}
for n = 0, slots - 1 do table.insert(holders, redis.call('GET', ARGV[1] .. 'lease:' .. n) or '') end
return holders`;

/** ARGV prefix, hostId, ttlMs, slot, instanceId → {0} renewed, {1} taken back (it had expired), {2, holder} lost. */
const RENEW = `
local lease = ARGV[1] .. 'lease:' .. ARGV[4]
local cur = redis.call('GET', lease)
if cur and cur ~= ARGV[2] then return {2, cur} end
redis.call('SET', lease, ARGV[2], 'PX', ARGV[3])
redis.call('SET', ARGV[1] .. 'instance:' .. ARGV[4], ARGV[5], 'NX')
if cur then return {0} end
return {1}`;

/** ARGV prefix, hostId, slots: frees every lease the host holds. */
const RELEASE = `
local freed = 0
for n = 0, tonumber(ARGV[3]) - 1 do
  local lease = ARGV[1] .. 'lease:' .. n
  if redis.call('GET', lease) == ARGV[2] then
    redis.call('DEL', lease)
    freed = freed + 1
  end
end
return freed`;

export type Acquired = { slot: number; instanceId: string } | { holders: string[] };
export type Renewed = { ok: true; retaken: boolean } | { ok: false; holder: string };

/** Instance-id leases: at most MAX_INSTANCES_PER_EXTENSION hosts register on one extension. */
export class RedisLeases {
  private readonly run: RunScript;

  constructor(
    redis: Redis,
    private readonly keys: ClusterKeys,
    private readonly hostId: string,
    private readonly timing: ClusterTiming,
  ) {
    this.run = defineScripts(redis, { rcvhAcquireLease: ACQUIRE, rcvhRenewLease: RENEW, rcvhReleaseLeases: RELEASE });
  }

  async acquire(): Promise<Acquired> {
    const reply = (await this.run("rcvhAcquireLease", [], [this.keys.prefix, this.hostId, this.timing.leaseTtlMs, MAX_INSTANCES_PER_EXTENSION, randomUUID()])) as Array<number | string>;
    if (reply[0] === -1) return { holders: reply.slice(1).map(String) };
    return { slot: Number(reply[0]), instanceId: String(reply[1]) };
  }

  async renew(slot: number, instanceId: string): Promise<Renewed> {
    const [code, holder] = (await this.run("rcvhRenewLease", [], [this.keys.prefix, this.hostId, this.timing.leaseTtlMs, slot, instanceId])) as [number, string?];
    return code === 2 ? { ok: false, holder: String(holder) } : { ok: true, retaken: code === 1 };
  }

  /** This host's leases, or (the reaper) a lost host's. */
  async release(hostId = this.hostId): Promise<number> {
    return (await this.run("rcvhReleaseLeases", [], [this.keys.prefix, hostId, MAX_INSTANCES_PER_EXTENSION])) as number;
  }
}

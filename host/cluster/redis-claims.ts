import type { Redis } from "ioredis";
import type { ClaimLimits, ClaimResult, ClusterTiming } from "./cluster.ts";
import { defineScripts, type RunScript } from "./redis-connection.ts";
import type { ClusterKeys } from "./redis-keys.ts";

// Each script runs atomically in Redis: the check of the claim, of the cluster-wide count and of
// the per-minute window, and the taking, are one step, so two hosts can never both win.
const NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";

/** KEYS claim, active, answers, hostClaims; ARGV hostId, ttlMs, maxActive (0: none), maxPerMinute (0: none), member. */
const CLAIM = `${NOW}
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then return {1, 'already'} end
if cur then
  if string.sub(cur, 1, 6) == 'ended:' then return {0, 'ended', string.sub(cur, 7)} end
  return {0, 'taken', cur}
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local maxActive = tonumber(ARGV[3])
if maxActive > 0 and redis.call('ZCARD', KEYS[2]) >= maxActive then return {0, 'max-active'} end
local maxPerMinute = tonumber(ARGV[4])
if maxPerMinute > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 60000)
  if redis.call('ZCARD', KEYS[3]) >= maxPerMinute then return {0, 'per-minute'} end
  redis.call('ZADD', KEYS[3], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[3], 60000)
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[5])
redis.call('SADD', KEYS[4], ARGV[5])
return {1, 'claimed'}`;

/** KEYS claim, active, answers, hostClaims; ARGV hostId, how, tombstoneMs, member. */
const RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == 'ended' then
  redis.call('SET', KEYS[1], 'ended:' .. ARGV[1], 'PX', ARGV[3])
else
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], ARGV[4])
end
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('SREM', KEYS[4], ARGV[4])
return 1`;

/**
 * KEYS active, hostClaims; ARGV hostId, ttlMs, prefix, members… Renews this host's claims; one
 * that vanished (Redis restarted empty, or a reaper took this host for lost) is taken back.
 * Returns those another host holds now.
 */
const RENEW = `${NOW}
local lost = {}
for i = 4, #ARGV do
  local key = ARGV[3] .. 'claim:' .. ARGV[i]
  local cur = redis.call('GET', key)
  if (not cur) or cur == ARGV[1] then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[i])
    redis.call('SADD', KEYS[2], ARGV[i])
  else
    table.insert(lost, ARGV[i] .. '=' .. cur)
  end
end
return lost`;

/** KEYS hostClaims, active; ARGV deadHostId, prefix. Frees a lost host's claims (DEL: a call still ringing may be claimed again). */
const REAP = `
local freed = {}
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[2] .. 'claim:' .. member
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    table.insert(freed, member)
  end
  redis.call('ZREM', KEYS[2], member)
end
redis.call('DEL', KEYS[1])
return freed`;

/** Claims on inbound calls: exactly one host answers each, within the cluster-wide limits. */
export class RedisClaims {
  private readonly run: RunScript;

  constructor(
    redis: Redis,
    private readonly keys: ClusterKeys,
    private readonly hostId: string,
    private readonly timing: ClusterTiming,
  ) {
    this.run = defineScripts(redis, { rcvhClaim: CLAIM, rcvhRelease: RELEASE, rcvhRenewClaims: RENEW, rcvhReapClaims: REAP });
  }

  async claim(claimKey: string, limits: ClaimLimits): Promise<ClaimResult> {
    const k = this.keys;
    const [won, what, who] = (await this.run("rcvhClaim", [k.claim(claimKey), k.active, k.answers, k.hostClaims(this.hostId)], [
      this.hostId,
      this.timing.claimTtlMs,
      limits.maxActive ?? 0,
      limits.maxPerMinute ?? 0,
      claimKey,
    ])) as [number, string, string?];
    if (won === 1) return { claimed: true };
    const reason =
      what === "taken" ? `claimed by host ${who}`
      : what === "ended" ? `already handled by host ${who}`
      : what === "max-active" ? `at CLUSTER_MAX_CONCURRENT_CALLS (${limits.maxActive}) across the cluster`
      : `at ANSWER_MAX_PER_MINUTE (${limits.maxPerMinute}) across the cluster`;
    return { claimed: false, reason, refusal: what === "taken" || what === "ended" ? "taken" : "limit" };
  }

  async release(claimKey: string, how: "ended" | "abandoned"): Promise<void> {
    const k = this.keys;
    await this.run("rcvhRelease", [k.claim(claimKey), k.active, k.answers, k.hostClaims(this.hostId)], [this.hostId, how, this.timing.claimTombstoneMs, claimKey]);
  }

  /** Renews the claims of the calls this host has in progress; returns `claimKey=holder` for those lost to another host. */
  async renew(claimKeys: readonly string[]): Promise<string[]> {
    if (!claimKeys.length) return [];
    const k = this.keys;
    return (await this.run("rcvhRenewClaims", [k.active, k.hostClaims(this.hostId)], [this.hostId, this.timing.claimTtlMs, k.prefix, ...claimKeys])) as string[];
  }

  /** The reaper frees a lost host's claims; returns their claim keys. */
  async reap(deadHostId: string): Promise<string[]> {
    const k = this.keys;
    return (await this.run("rcvhReapClaims", [k.hostClaims(deadHostId), k.active], [deadHostId, k.prefix])) as string[];
  }
}

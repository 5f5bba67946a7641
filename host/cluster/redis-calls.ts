import type { Redis } from "ioredis";
import type { CallRecord, ClusterTiming, OwnedCall } from "./cluster.ts";
import type { ClusterKeys } from "./redis-keys.ts";

/** GET /calls lists at most this many of the cluster's calls (the newest). */
export const MAX_LISTED_CALLS = 1000;

/** The end reason of calls whose host was lost (its heartbeat expired). */
export const HOST_LOST = "host-lost";

function parse(json: string | null): CallRecord | undefined {
  if (!json) return undefined;
  try {
    const r = JSON.parse(json) as CallRecord;
    return r && typeof r.owner === "string" && r.view && typeof r.view.id === "string" ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The shared call registry: each owned call's record (its API view and owner), written on each
 * change of state and refreshed with the heartbeat. A call in progress lives `activeTtlMs`
 * unless refreshed (so a cluster that died whole leaves nothing behind); an ended one is listed
 * for `endedCallTtlMs`.
 */
export class RedisCalls {
  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
    private readonly hostId: string,
    private readonly timing: ClusterTiming,
  ) {}

  private get activeTtlMs(): number {
    return this.timing.claimTtlMs;
  }

  /** Sent in order on the one connection: a later state never lands before an earlier one. */
  save(call: OwnedCall): Promise<unknown> {
    const k = this.keys;
    const { view } = call;
    const ended = view.state === "ended";
    const ttlMs = ended ? this.timing.endedCallTtlMs : this.activeTtlMs;
    const created = Date.parse(String(view.createdAt)) || Date.now();
    const m = this.redis.multi();
    m.set(k.call(view.id), JSON.stringify({ owner: this.hostId, view } satisfies CallRecord), "PX", ttlMs);
    m.zadd(k.calls, created, view.id);
    m.zremrangebyrank(k.calls, 0, -(MAX_LISTED_CALLS + 1));
    if (ended) m.srem(k.hostCalls(this.hostId), view.id);
    else m.sadd(k.hostCalls(this.hostId), view.id);
    if (call.telephonySessionId) m.set(k.session(call.telephonySessionId), view.id, "PX", ttlMs);
    return m.exec().then((res) => {
      const failed = res?.find(([err]) => err);
      if (failed) throw failed[0];
    });
  }

  async get(callId: string): Promise<CallRecord | undefined> {
    return parse(await this.redis.get(this.keys.call(callId)));
  }

  async callIdForSession(telephonySessionId: string): Promise<string | undefined> {
    return (await this.redis.get(this.keys.session(telephonySessionId))) ?? undefined;
  }

  /** Oldest first, like the local registry; ids whose record expired are dropped from the index. */
  async list(): Promise<CallRecord[]> {
    const ids = await this.redis.zrange(this.keys.calls, 0, -1);
    if (!ids.length) return [];
    const values = await this.redis.mget(ids.map((id) => this.keys.call(id)));
    const gone = ids.filter((_, i) => !values[i]);
    if (gone.length) await this.redis.zrem(this.keys.calls, ...gone);
    return values.map(parse).filter((r): r is CallRecord => r !== undefined);
  }

  /** The reaper: a lost host's calls in progress are ended (`host-lost`), cluster-wide. Returns their ids. */
  async endCallsOf(deadHostId: string): Promise<string[]> {
    const k = this.keys;
    const ids = await this.redis.smembers(k.hostCalls(deadHostId));
    const ended: string[] = [];
    for (const id of ids) {
      const record = await this.get(id);
      if (!record || record.owner !== deadHostId || record.view.state === "ended") continue;
      const view = { ...record.view, state: "ended", endReason: HOST_LOST, endedAt: new Date().toISOString() };
      await this.redis.set(k.call(id), JSON.stringify({ owner: deadHostId, view } satisfies CallRecord), "PX", this.timing.endedCallTtlMs);
      ended.push(id);
    }
    await this.redis.del(k.hostCalls(deadHostId));
    return ended;
  }
}

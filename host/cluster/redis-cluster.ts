import type { Redis } from "ioredis";
import type { Logger } from "pino";
import {
  MAX_INSTANCES_PER_EXTENSION,
  TIMING,
  statusError,
  type CallAction,
  type CallRecord,
  type CallView,
  type ClaimLimits,
  type ClaimResult,
  type Cluster,
  type ClusterMember,
  type ClusterStatus,
  type ClusterTiming,
  type OwnedCall,
} from "./cluster.ts";
import type { TelephonyEvent } from "../webhooks.ts";
import { RedisCalls } from "./redis-calls.ts";
import { RedisClaims } from "./redis-claims.ts";
import { connectWithin, openRedis, redactRedisUrl } from "./redis-connection.ts";
import { RedisEvents } from "./redis-events.ts";
import { ClusterKeys } from "./redis-keys.ts";
import { RedisLeases } from "./redis-leases.ts";
import { RedisLiveness } from "./redis-liveness.ts";
import { RedisRpc } from "./redis-rpc.ts";

export interface RedisClusterOptions {
  url: string;
  hostId: string;
  /** The HTTP address this host was configured with, for the heartbeat record. */
  http?: string;
  log: Logger;
  timing?: Partial<ClusterTiming>;
}

/** The parts that need the extension's keys, made at join(). */
interface Joined {
  keys: ClusterKeys;
  claims: RedisClaims;
  leases: RedisLeases;
  calls: RedisCalls;
  liveness: RedisLiveness;
  rpc: RedisRpc;
  events: RedisEvents;
  member: ClusterMember;
}

/**
 * REDIS_URL set: the hosts of one extension act as one through Redis. Heartbeats with TTLs say
 * who is alive, a reaper (one per period, by lock) ends a lost host's calls and frees its claims
 * and lease, claims decide who answers, leases cap registrations at RingCentral's 5, call records
 * make GET /calls cluster-wide, and pub/sub carries actions to a call's owner.
 *
 * Redis lost: nothing is claimed (calls ring on for a host that can take them), `status()` is
 * unready with the reason, calls in progress go on; ioredis reconnects, and this host then
 * writes again what it holds (heartbeat, lease, claims, records) and claims again.
 */
export class RedisCluster implements Cluster {
  readonly mode = "redis" as const;
  readonly hostId: string;
  private readonly timing: ClusterTiming;
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly log: Logger;
  private readonly startedAt = new Date().toISOString();
  private j: Joined | undefined;
  private connected = false;
  private lostAtMs: number | undefined;
  private lastError: string | undefined;
  private lease: { slot: number; instanceId: string } | undefined;
  private leaseProblem: string | undefined;
  private hostCount: number | null = null;
  private timers: NodeJS.Timeout[] = [];
  private ticking = false;
  private stopped = false;
  private eventListener: ((event: TelephonyEvent) => void) | undefined;
  private leadershipListener: ((leading: boolean) => void) | undefined;
  private leading = false;
  private leaseLostListener: (() => void) | undefined;

  constructor(private readonly o: RedisClusterOptions) {
    this.hostId = o.hostId;
    this.log = o.log;
    this.timing = { ...TIMING, ...o.timing };
    this.redis = openRedis(o.url, this.timing);
    this.subscriber = openRedis(o.url, this.timing);
    this.redis.on("error", (err: Error) => (this.lastError = (err as NodeJS.ErrnoException).code ?? err.message));
    this.subscriber.on("error", () => {});
    this.redis.on("close", () => this.onLost());
    this.redis.on("ready", () => this.onBack());
  }

  status(): ClusterStatus {
    return { mode: "redis", hostId: this.hostId, ready: this.reason() === null, reason: this.reason(), instanceSlot: this.lease?.slot ?? null, hosts: this.hostCount };
  }

  private reason(): string | null {
    if (this.stopped) return "stopped";
    if (!this.connected)
      return `Redis at ${redactRedisUrl(this.o.url)} unreachable${this.lostAtMs ? ` since ${new Date(this.lostAtMs).toISOString()}` : ""}${this.lastError ? ` (${this.lastError})` : ""}: not claiming calls; calls in progress go on`;
    if (this.leaseProblem) return this.leaseProblem;
    if (!this.j) return "joining the cluster";
    if (!this.lease) return "waiting for an instance lease";
    return null;
  }

  async connect(): Promise<void> {
    await connectWithin(this.redis, this.o.url, this.timing.connectTimeoutMs);
    await connectWithin(this.subscriber, this.o.url, this.timing.connectTimeoutMs);
    this.connected = true;
    this.log.info({ redis: redactRedisUrl(this.o.url), hostId: this.hostId }, "cluster: connected to Redis");
  }

  async join(extensionId: string, member: ClusterMember): Promise<void> {
    const keys = new ClusterKeys(extensionId);
    const { redis, hostId, timing } = this;
    const liveness = new RedisLiveness(redis, keys, hostId, timing);
    const rpc = new RedisRpc(redis, this.subscriber, keys, hostId, liveness, timing, this.log);
    const events = new RedisEvents(redis, this.subscriber, keys, hostId, timing, this.log);
    this.j = { keys, liveness, rpc, events, member, claims: new RedisClaims(redis, keys, hostId, timing), leases: new RedisLeases(redis, keys, hostId, timing), calls: new RedisCalls(redis, keys, hostId, timing) };
    await rpc.start(member);
    await events.start((e) => this.eventListener?.(e));
    await this.tick();
    this.timers.push(setInterval(() => void this.tick(), timing.heartbeatEveryMs), setInterval(() => void this.reap(), timing.reapEveryMs));
    for (const t of this.timers) t.unref();
    this.log.info({ extensionId, hostId, hosts: this.hostCount }, "cluster: joined");
  }

  async leaseInstance(signal: AbortSignal): Promise<string | undefined> {
    const j = this.joined();
    for (;;) {
      if (signal.aborted) throw new Error("stopped while waiting for an instance lease");
      let problem: string;
      try {
        const got = await j.leases.acquire();
        if ("slot" in got) {
          this.lease = got;
          this.leaseProblem = undefined;
          this.log.info({ slot: got.slot, instanceId: got.instanceId }, "cluster: instance lease taken");
          await this.tick();
          return got.instanceId;
        }
        problem = `all ${MAX_INSTANCES_PER_EXTENSION} instance leases of this extension are held (by ${got.holders.join(", ")}): RingCentral registers at most ${MAX_INSTANCES_PER_EXTENSION} WebPhone instances per extension, so this host waits, retrying every ${this.timing.leaseRetryMs} ms, instead of taking another host's registration; stop a host or use another extension`;
      } catch (err) {
        problem = `cannot take an instance lease: ${(err as Error).message}`;
      }
      if (problem !== this.leaseProblem) this.log.error({ retryInMs: this.timing.leaseRetryMs }, `cluster: ${problem}`);
      this.leaseProblem = problem;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.timing.leaseRetryMs);
        signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
  }

  async claim(key: string, limits: ClaimLimits): Promise<ClaimResult> {
    const refusal = "unavailable" as const;
    if (!this.connected) return { claimed: false, reason: "cluster unavailable: Redis unreachable", refusal };
    if (this.stopped || !this.j) return { claimed: false, reason: "not in the cluster", refusal };
    if (this.leaseProblem) return { claimed: false, reason: this.leaseProblem, refusal };
    try {
      return await this.j.claims.claim(key, limits);
    } catch (err) {
      return { claimed: false, reason: `cluster unavailable: ${(err as Error).message}`, refusal };
    }
  }

  async release(key: string, how: "ended" | "abandoned"): Promise<void> {
    // Unreachable: the claim expires on its own (claimTtlMs), and so does its count.
    await this.j?.claims.release(key, how).catch((err: Error) => this.log.warn({ key, err: err.message }, "cluster: could not release a claim; it expires on its own"));
  }

  saveCall(call: OwnedCall): Promise<void> {
    if (!this.j) return Promise.resolve();
    return this.j.calls.save(call).then(() => call.saved?.());
  }

  async listCalls(): Promise<CallRecord[]> {
    return this.joined().calls.list();
  }

  async getCall(callId: string): Promise<CallRecord | undefined> {
    return this.joined().calls.get(callId);
  }

  async callIdForSession(telephonySessionId: string): Promise<string | undefined> {
    return this.joined().calls.callIdForSession(telephonySessionId);
  }

  async forward(record: CallRecord, action: CallAction): Promise<CallView> {
    if (!this.connected) throw statusError(503, `call ${record.view.id} is on host ${record.owner}, and this host cannot reach Redis to ask it`);
    return this.joined().rpc.forward(record, action);
  }

  onEvent(listener: (event: TelephonyEvent) => void): void {
    this.eventListener = listener;
  }

  /** Redis away: handled here alone (the claims still keep any other host from answering it). */
  async shareEvent(uuid: string, event: TelephonyEvent): Promise<void> {
    if (!this.j || !this.connected) return void this.eventListener?.(event);
    try {
      await this.j.events.share(uuid, event);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "cluster: could not share a webhook event; handled here only");
      this.eventListener?.(event);
    }
  }

  onLeaseLost(listener: () => void): void {
    this.leaseLostListener = listener;
  }

  onLeadership(listener: (leading: boolean) => void): void {
    this.leadershipListener = listener;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    for (const t of this.timers) clearInterval(t);
    const j = this.j;
    if (j && this.connected) {
      try {
        if (this.leading) await j.events.resign();
        // The last records (calls ended by the shutdown), then gone at once: no one waits for a TTL.
        await Promise.all(j.member.owned().map((c) => this.saveCall(c)));
        await j.leases.release();
        await j.liveness.leave();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "cluster: could not leave cleanly; the heartbeat expires on its own");
      }
      await j.rpc.stop();
    }
    this.stopped = true;
    this.redis.disconnect();
    this.subscriber.disconnect();
    this.log.info("cluster: left");
  }

  private joined(): Joined {
    if (!this.j) throw statusError(503, "this host has not joined the cluster yet");
    return this.j;
  }

  private onLost(): void {
    if (!this.connected || this.stopped) return;
    this.connected = false;
    this.lostAtMs = Date.now();
    this.log.error({ redis: redactRedisUrl(this.o.url) }, "cluster: Redis lost; not claiming calls until it is back, calls in progress go on");
  }

  private onBack(): void {
    if (this.connected || this.stopped || this.lostAtMs === undefined) return;
    this.connected = true;
    this.log.info({ downMs: Date.now() - this.lostAtMs }, "cluster: Redis back; writing what this host holds and claiming again");
    this.lostAtMs = undefined;
    void this.tick();
  }

  /** Heartbeat, lease, claims and call records: what this host holds, written again every period. */
  private async tick(): Promise<void> {
    const j = this.j;
    if (!j || !this.connected || this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      const local = j.member.local();
      await j.liveness.beat({ hostId: this.hostId, http: this.o.http ?? null, ...local, instanceSlot: this.lease?.slot ?? null, startedAt: this.startedAt });
      if (this.lease) await this.renewLease(j, this.lease);
      const owned = j.member.owned();
      const claimKeys = owned.filter((c) => c.claimKey && c.view.state !== "ended").map((c) => c.claimKey!);
      for (const lost of await j.claims.renew(claimKeys)) this.log.error({ claim: lost }, "cluster: a claim of a call in progress here is held by another host");
      if (this.leadershipListener) await this.bidForLead(j, this.leadershipListener);
      await Promise.all(owned.map((c) => this.saveCall(c)));
      this.hostCount = (await j.liveness.hosts()).length;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "cluster: heartbeat failed");
    } finally {
      this.ticking = false;
    }
  }

  /** The subscription's lease: taken when free (its holder stopped or was lost), renewed while held. */
  private async bidForLead(j: Joined, listener: (leading: boolean) => void): Promise<void> {
    const leading = await j.events.lead();
    if (leading === this.leading) return;
    this.leading = leading;
    this.log.info({ leading }, leading ? "cluster: this host holds the webhook subscription" : "cluster: another host holds the webhook subscription now");
    listener(leading);
  }

  private async renewLease(j: Joined, lease: { slot: number; instanceId: string }): Promise<void> {
    const r = await j.leases.renew(lease.slot, lease.instanceId);
    if (r.ok) {
      if (r.retaken) this.log.warn({ slot: lease.slot }, "cluster: instance lease had expired (Redis was away); taken back");
      if (this.leaseProblem?.startsWith("instance lease")) this.leaseProblem = undefined;
      return;
    }
    const problem = `instance lease ${lease.slot} was taken by host ${r.holder} while this host was away from Redis: unregistered, not claiming calls; restart this host to take a free lease`;
    if (problem === this.leaseProblem) return;
    this.log.error(`cluster: ${problem}`);
    this.leaseProblem = problem;
    this.leaseLostListener?.();
  }

  /** If this host is the reaper of the period: each lost host's calls end (`host-lost`), its claims and lease are freed. */
  private async reap(): Promise<void> {
    const j = this.j;
    if (!j || !this.connected || this.stopped) return;
    try {
      for (const dead of await j.liveness.lostHosts()) {
        const claims = await j.claims.reap(dead);
        const calls = await j.calls.endCallsOf(dead);
        const leases = await j.leases.release(dead);
        await j.liveness.forget(dead);
        this.log.warn({ host: dead, calls: calls.length, claims: claims.length, leases }, "cluster: host lost (no heartbeat); its calls ended host-lost, its claims and lease freed");
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "cluster: reaping failed; the next period tries again");
    }
  }
}

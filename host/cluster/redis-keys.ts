/**
 * Every Redis key and channel of one extension's cluster, in one place (docs/ARCHITECTURE.md,
 * "Cluster", lists them with their TTLs). The `{…}` hash tag keeps an extension's keys in one
 * slot, so the Lua scripts that touch several of them also run on a Redis Cluster.
 */
export class ClusterKeys {
  readonly prefix: string;

  constructor(extensionId: string) {
    this.prefix = `rcvh:{${extensionId}}:`;
  }

  /** SET of host ids that have joined (the reaper checks each for a heartbeat). */
  get hosts(): string {
    return `${this.prefix}hosts`;
  }
  /** STRING, JSON HostRecord, PX heartbeatTtlMs. */
  host(hostId: string): string {
    return `${this.prefix}host:${hostId}`;
  }
  /** SET of the claim keys a host holds. */
  hostClaims(hostId: string): string {
    return `${this.prefix}host:${hostId}:claims`;
  }
  /** SET of the call ids a host owns. */
  hostCalls(hostId: string): string {
    return `${this.prefix}host:${hostId}:calls`;
  }
  /** STRING lock, SET NX PX: one reaper per period. */
  get reaper(): string {
    return `${this.prefix}reaper`;
  }
  /** STRING: the claiming host id, or `ended:<host id>` (tombstone). */
  claim(claimKey: string): string {
    return `${this.prefix}claim:${claimKey}`;
  }
  /** ZSET claim key → expiry (ms, Redis's clock): the inbound calls in progress, cluster-wide. */
  get active(): string {
    return `${this.prefix}active`;
  }
  /** ZSET claim key → when claimed: the per-minute answer window. */
  get answers(): string {
    return `${this.prefix}answers`;
  }
  /** STRING host id, PX leaseTtlMs: who holds instance slot n. */
  lease(slot: number): string {
    return `${this.prefix}lease:${slot}`;
  }
  /** STRING: the stable WebPhone instanceId of slot n (no TTL: restarts reuse it). */
  instance(slot: number): string {
    return `${this.prefix}instance:${slot}`;
  }
  /** STRING, JSON CallRecord. */
  call(callId: string): string {
    return `${this.prefix}call:${callId}`;
  }
  /** ZSET call id → created (ms): what GET /calls lists. */
  get calls(): string {
    return `${this.prefix}calls`;
  }
  /** STRING call id, for the Twilio hang-up route (which names calls by telephonySessionId). */
  session(telephonySessionId: string): string {
    return `${this.prefix}session:${telephonySessionId}`;
  }
  /** STRING host id, PX leaseTtlMs: the host that holds the extension's one webhook subscription. */
  get subscriber(): string {
    return `${this.prefix}subscriber`;
  }
  /** STRING, PX 10 min: a webhook delivery's uuid, taken by the first host that received it. */
  event(uuid: string): string {
    return `${this.prefix}event:${uuid}`;
  }
  /** Pub/sub: each webhook event, once, to every host. */
  get events(): string {
    return `${this.prefix}events`;
  }
  /** Pub/sub: actions forwarded to a host, and the answers coming back to the asker. */
  requests(hostId: string): string {
    return `${this.prefix}rpc:${hostId}`;
  }
  replies(hostId: string): string {
    return `${this.prefix}rpc-reply:${hostId}`;
  }
}

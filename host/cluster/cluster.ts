import type { TelephonyEvent } from "../webhooks.ts";

/**
 * The one seam between a host and the other hosts of its extension. `LocalCluster` is a host on
 * its own (REDIS_URL unset: every claim granted, no lease, nothing shared); `RedisCluster` shares
 * liveness, claims, instance leases and call records through Redis. Redis does the agreeing
 * (SET NX, TTLs, Lua scripts run atomically): there is no consensus of our own.
 */

/** RingCentral registers at most this many WebPhone instances per extension (a 6th gets 603). */
export const MAX_INSTANCES_PER_EXTENSION = 5;

/** How often things happen, and how long keys live (ms). Tests may shorten them. */
export interface ClusterTiming {
  /** Heartbeat, lease and claim renewal, call record refresh. */
  heartbeatEveryMs: number;
  /** A host whose heartbeat is older than this is lost. */
  heartbeatTtlMs: number;
  /** How often each host tries to be the reaper (one per period, by a SET NX PX lock). */
  reapEveryMs: number;
  /** An instance lease lives this long unless renewed (with the heartbeat). */
  leaseTtlMs: number;
  /** A sixth host tries again for a lease this often. */
  leaseRetryMs: number;
  /** A claim of a call in progress lives this long unless renewed (with the heartbeat). */
  claimTtlMs: number;
  /** An ended call's claim stays as a tombstone this long, so a late INVITE is not claimed again. */
  claimTombstoneMs: number;
  /** An ended call's record is listed this long. */
  endedCallTtlMs: number;
  /** A forwarded action waits this long for the owner's answer (a transfer: transferTimeoutMs). */
  forwardTimeoutMs: number;
  transferTimeoutMs: number;
  /** Redis must answer each command within this, or the command fails (and no call is claimed). */
  commandTimeoutMs: number;
  /** `connect()` gives Redis this long at start. */
  connectTimeoutMs: number;
}

export const TIMING: ClusterTiming = {
  heartbeatEveryMs: 2000,
  heartbeatTtlMs: 6000,
  reapEveryMs: 2000,
  leaseTtlMs: 6000,
  leaseRetryMs: 5000,
  claimTtlMs: 30_000,
  claimTombstoneMs: 60_000,
  endedCallTtlMs: 3_600_000,
  forwardTimeoutMs: 10_000,
  // A warm transfer may take 60 s on the owner (call-control.ts).
  transferTimeoutMs: 65_000,
  commandTimeoutMs: 1000,
  connectTimeoutMs: 5000,
};

/** What a host's heartbeat says about it. */
export interface HostRecord {
  hostId: string;
  /** The HTTP address it was configured with (diagnostics). */
  http: string | null;
  deviceId: string | null;
  freeSlots: number;
  draining: boolean;
  /** The instance lease it holds (0..4), if any. */
  instanceSlot: number | null;
  startedAt: string;
}

/** What the cluster asks of its host at every heartbeat. */
export interface LocalState {
  deviceId: string | null;
  freeSlots: number;
  draining: boolean;
}

/** Not claimed: another host has (or had) the call, a cluster-wide limit, or the cluster is out of reach. */
export type ClaimRefusal = "taken" | "limit" | "unavailable";
export type ClaimResult = { claimed: true } | { claimed: false; reason: string; refusal: ClaimRefusal };

/** Limits a claim checks atomically, cluster-wide. */
export interface ClaimLimits {
  /** CLUSTER_MAX_CONCURRENT_CALLS: inbound calls claimed and not ended. */
  maxActive?: number;
  /** ANSWER_MAX_PER_MINUTE: claims in the last 60 s (Redis's clock). */
  maxPerMinute?: number;
}

/** What the API shows of a call (callView), as stored for the cluster. */
export type CallView = Record<string, unknown> & { id: string; state: string };

/** A call record in the cluster: its view and the host that owns it. */
export interface CallRecord {
  owner: string;
  view: CallView;
}

/** A call this host owns: its record is refreshed, its claim renewed, at every heartbeat. */
export interface OwnedCall {
  view: CallView;
  telephonySessionId?: string;
  /** Inbound: the claim it was taken with. */
  claimKey?: string;
  /** Called once its record is written (an ended call is then forgotten). */
  saved?: () => void;
}

/** Call actions another host may ask the owner to do (the API's POST /calls/{id}/...). */
export type CallAction =
  | { kind: "hangup"; reason: string }
  | { kind: "control"; verb: "hold" | "unhold" | "mute" | "unmute" | "recording"; action?: "start" | "stop" }
  | { kind: "dtmf"; digits: string }
  | { kind: "transfer"; target: string; mode: "blind" | "warm" };

/** What the cluster asks of the host it runs in. */
export interface ClusterMember {
  local(): LocalState;
  /** Calls this host owns, live. */
  owned(): OwnedCall[];
  /** A forwarded action on a call this host owns; throws errors carrying `status` like the API's. */
  act(callId: string, action: CallAction): Promise<CallView>;
}

/** /ready's `cluster` part. */
export interface ClusterStatus {
  mode: "local" | "redis";
  hostId: string;
  /** False: this host must not be sent traffic (and claims nothing). */
  ready: boolean;
  reason: string | null;
  instanceSlot: number | null;
  /** Hosts with a live heartbeat, as last seen (redis mode). */
  hosts: number | null;
}

export interface Cluster {
  readonly hostId: string;
  readonly mode: "local" | "redis";
  status(): ClusterStatus;
  /** Reaches Redis at start; a clear error when it cannot (the host then exits). */
  connect(): Promise<void>;
  /** Joins the extension's hosts: heartbeat, reaper, forwarded actions. */
  join(extensionId: string, member: ClusterMember): Promise<void>;
  /**
   * The WebPhone instanceId this host registers with: a lease on one of the extension's
   * MAX_INSTANCES_PER_EXTENSION slots, waited for (unready meanwhile) until `signal` aborts.
   * Undefined: no cluster, the sipInfo cache's own id is used.
   */
  leaseInstance(signal: AbortSignal): Promise<string | undefined>;
  /** Takes the inbound call named `key` (telephonySessionId, else `sip:` + Call-ID) for this host, or says why not. */
  claim(key: string, limits: ClaimLimits): Promise<ClaimResult>;
  /** The claimed call ended (`ended`: kept as a tombstone) or never started here (`abandoned`: freed at once). */
  release(key: string, how: "ended" | "abandoned"): Promise<void>;
  /** Writes an owned call's record (on each change of state). */
  saveCall(call: OwnedCall): Promise<void>;
  /** The cluster's call records (redis mode), newest last. */
  listCalls(): Promise<CallRecord[]>;
  getCall(callId: string): Promise<CallRecord | undefined>;
  callIdForSession(telephonySessionId: string): Promise<string | undefined>;
  /** Asks the owner of `record` to act on it; throws errors with `status` (503: the owner is gone). */
  forward(record: CallRecord, action: CallAction): Promise<CallView>;
  /** Webhook mode: every host hears each telephony event once (set before join). */
  onEvent(listener: (event: TelephonyEvent) => void): void;
  /** An event this host's receiver accepted (uuid: the delivery's): handled once across the cluster. */
  shareEvent(uuid: string, event: TelephonyEvent): Promise<void>;
  /** Bids for the extension's one webhook subscription (set before join): the listener hears each change of lead. */
  onLeadership(listener: (leading: boolean) => void): void;
  /** The instance lease went to another host (this one was away from Redis past its TTL): both would register one instanceId. */
  onLeaseLost(listener: () => void): void;
  /** Leaves: lease and heartbeat removed at once, so others need not wait for the TTL. */
  stop(): Promise<void>;
}

/** An error the API passes on with its status. */
export function statusError(status: number, message: string): Error & { status: number } {
  return Object.assign(new Error(message), { status });
}

/** The claim key of an inbound call: RingCentral's session id, the same on every instance it rings. */
export function claimKeyOf(call: { telephonySessionId?: string; sipCallId: string }): string {
  return call.telephonySessionId ? `tsid:${call.telephonySessionId}` : `sip:${call.sipCallId}`;
}

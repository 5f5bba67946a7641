import type { Logger } from "pino";
import { callView, type Call, type CallRegistry } from "../calls.ts";
import { claimKeyOf, statusError, type CallAction, type CallView, type ClaimLimits, type ClaimResult, type Cluster, type OwnedCall } from "./cluster.ts";

/** What answering asks of the cluster before it dials the pipeline for an inbound call. */
export interface CallClaims {
  /** In a cluster, declining a call would end it for every host: calls this host does not take are left ringing. */
  readonly clustered: boolean;
  /** Takes the call for this host, or says why not (another host has it, a cluster-wide limit, Redis away). */
  claim(call: Call): Promise<ClaimResult>;
  /** Webhook mode: the session, before Call Control brings it here (its INVITE then finds it claimed by this host). */
  claimSession(telephonySessionId: string): Promise<ClaimResult>;
  /** A session claimed for a Call Control answer that failed: freed for another host. */
  abandon(telephonySessionId: string): void;
}

/**
 * The registry's side of the cluster: which calls this host owns (claimed inbound, placed
 * outbound), their records written on each change, their claims released when they end, and
 * what GET /calls and call actions mean across hosts. In local mode it grants every claim and
 * nothing else happens.
 */
export class ClusterCalls implements CallClaims {
  /** Owned calls by id, kept until their ended record is written. */
  private readonly owned = new Map<string, { call: Call; claimKey?: string; released?: boolean }>();

  constructor(
    private readonly calls: CallRegistry,
    readonly cluster: Cluster,
    private readonly limits: ClaimLimits,
    private readonly log: Logger,
  ) {
    if (this.clustered) calls.onChange((call) => this.changed(call));
  }

  get clustered(): boolean {
    return this.cluster.mode === "redis";
  }

  async claim(call: Call): Promise<ClaimResult> {
    const claimKey = claimKeyOf(call);
    const result = await this.cluster.claim(claimKey, this.limits);
    if (!result.claimed || !this.clustered) return result;
    this.owned.set(call.id, { call, claimKey });
    // Ended while Redis answered (CANCEL: another instance answered first, or the caller gave up).
    if (call.state === "ended") this.changed(call);
    return result;
  }

  claimSession(telephonySessionId: string): Promise<ClaimResult> {
    return this.cluster.claim(claimKeyOf({ telephonySessionId, sipCallId: "" }), this.limits);
  }

  abandon(telephonySessionId: string): void {
    if (this.clustered) void this.cluster.release(claimKeyOf({ telephonySessionId, sipCallId: "" }), "abandoned");
  }

  /** Calls this host owns, for the heartbeat (records refreshed, claims renewed). */
  ownedCalls(): OwnedCall[] {
    return [...this.owned.values()].map((o) => this.ownedView(o));
  }

  /** An owned call in progress, by RingCentral's session id (the Twilio route names calls so). */
  ownedBySession(telephonySessionId: string): Call | undefined {
    for (const { call } of this.owned.values()) if (call.telephonySessionId === telephonySessionId) return call;
    return undefined;
  }

  /** GET /calls in a cluster: every host's records, this host's own calls live; `partial` when Redis is away. */
  async list(): Promise<{ records: CallView[]; partial?: string }> {
    const mine = new Map<string, CallView>(this.ownedCalls().map((o) => [o.view.id, { ...o.view, host: this.cluster.hostId }]));
    try {
      const records = await this.cluster.listCalls();
      const views: CallView[] = records.map((r) => mine.get(r.view.id) ?? { ...r.view, host: r.owner });
      const listed = new Set(views.map((v) => v.id));
      for (const v of mine.values()) if (!listed.has(v.id)) views.push(v);
      return { records: views.sort((a, b) => String(a.createdAt).localeCompare(String(b.createdAt))) };
    } catch (err) {
      return { records: [...mine.values()], partial: `cluster unavailable (${(err as Error).message}): only this host's calls are listed` };
    }
  }

  /** A call another host owns, as its record shows it. */
  async view(callId: string): Promise<CallView | undefined> {
    if (!this.clustered) return undefined;
    const record = await this.reach(() => this.cluster.getCall(callId));
    return record && { ...record.view, host: record.owner };
  }

  async callIdForSession(telephonySessionId: string): Promise<string | undefined> {
    return this.clustered ? this.reach(() => this.cluster.callIdForSession(telephonySessionId)) : undefined;
  }

  /** An action on a call this host does not have: forwarded to its owner, whose answer comes back. */
  async actElsewhere(callId: string, action: CallAction): Promise<CallView> {
    const record = this.clustered ? await this.reach(() => this.cluster.getCall(callId)) : undefined;
    if (!record || record.owner === this.cluster.hostId) throw statusError(404, `no call ${callId}`);
    const shown = { ...record.view, host: record.owner };
    if (record.view.state === "ended") {
      if (action.kind === "hangup") return shown; // as on the owner: hanging up an ended call changes nothing
      throw statusError(409, `call ${callId} is ended, not answered`);
    }
    return { ...(await this.cluster.forward(record, action)), host: record.owner };
  }

  private async reach<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw statusError(503, `cluster unavailable: ${(err as Error).message}`);
    }
  }

  private ownedView(o: { call: Call; claimKey?: string }): OwnedCall {
    const { call } = o;
    const ended = call.state === "ended";
    return {
      view: callView(call) as CallView,
      telephonySessionId: call.telephonySessionId,
      claimKey: o.claimKey,
      // An ended call is forgotten once its record says so (written again every heartbeat until then).
      saved: ended ? () => this.owned.delete(call.id) : undefined,
    };
  }

  private changed(call: Call): void {
    if (call.direction === "outbound" && !this.owned.has(call.id)) this.owned.set(call.id, { call });
    const o = this.owned.get(call.id);
    if (!o) return; // ringing here, not (or not yet) taken by this host
    void this.cluster.saveCall(this.ownedView(o)).catch((err: Error) => this.log.warn({ call: call.id, err: err.message }, "cluster: call record not written; the heartbeat tries again"));
    if (call.state === "ended" && o.claimKey && !o.released) {
      o.released = true;
      void this.cluster.release(o.claimKey, "ended");
    }
  }
}

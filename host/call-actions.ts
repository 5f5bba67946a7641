import type { CallControl } from "./call-control.ts";
import type { CallLifecycle } from "./call-lifecycle.ts";
import { callView, type CallRegistry } from "./calls.ts";
import { statusError, type CallAction, type CallView, type ClusterMember } from "./cluster/cluster.ts";
import type { ClusterCalls } from "./cluster/cluster-calls.ts";

export interface CallActionsDeps {
  calls: CallRegistry;
  clusterCalls: ClusterCalls;
  lifecycle: CallLifecycle;
  control: CallControl;
  deviceId(): string | undefined;
  draining(): boolean;
}

/**
 * What the API reads and does to calls: on this host's own calls here, on another host's (in a
 * cluster) through the owner. Also what the cluster reads of this host at each heartbeat.
 */
export class CallActions {
  constructor(private readonly d: CallActionsDeps) {}

  /** GET /calls: this host's calls, or in a cluster every host's (`partial` when Redis is away). */
  async list(): Promise<{ records: Record<string, unknown>[]; partial?: string }> {
    if (!this.d.clusterCalls.clustered) return { records: this.d.calls.list().map(callView) };
    return this.d.clusterCalls.list();
  }

  /** GET /calls/{id}: here, else the cluster's record. */
  async view(callId: string): Promise<Record<string, unknown> | undefined> {
    const call = this.d.calls.get(callId);
    return call ? callView(call) : this.d.clusterCalls.view(callId);
  }

  /** A call action: done here, or forwarded to the host that owns the call; resolves with the call's view. */
  async act(callId: string, action: CallAction): Promise<CallView> {
    if (this.d.calls.get(callId)) return this.actHere(callId, action);
    return this.d.clusterCalls.actElsewhere(callId, action);
  }

  /** The Twilio route's callSid (telephonySessionId or call id) → a call id, here first, then in the cluster. */
  async callIdFor(callSid: string): Promise<string | undefined> {
    const { calls, clusterCalls } = this.d;
    if (!clusterCalls.clustered) return (calls.byTelephonySession(callSid) ?? calls.get(callSid))?.id;
    // In a cluster other hosts' calls ring here too: only a call this host owns is this host's to end.
    return clusterCalls.ownedBySession(callSid)?.id ?? calls.get(callSid)?.id ?? (await clusterCalls.callIdForSession(callSid)) ?? ((await clusterCalls.view(callSid)) ? callSid : undefined);
  }

  /** What the cluster reads of this host, and how it acts on calls forwarded here. */
  member(hostId: string): ClusterMember {
    const { calls } = this.d;
    return {
      local: () => ({ deviceId: this.d.deviceId() ?? null, freeSlots: Math.max(0, calls.slots - calls.active().filter((c) => c.slot !== undefined).length), draining: this.d.draining() }),
      owned: () => this.d.clusterCalls.ownedCalls(),
      // Only a call this host has: a forwarded request is never forwarded again.
      act: (callId, action) => (calls.get(callId) ? this.actHere(callId, action) : Promise.reject(statusError(404, `no call ${callId} on host ${hostId}`))),
    };
  }

  private async actHere(callId: string, a: CallAction): Promise<CallView> {
    const { lifecycle, control } = this.d;
    if (a.kind === "hangup") await lifecycle.hangup(callId, a.reason);
    else if (a.kind === "control") await control.control(callId, a.verb, a.action);
    else if (a.kind === "dtmf") await control.sendDtmf(callId, a.digits);
    else await control.transfer(callId, a.target, a.mode);
    return callView(this.d.calls.get(callId)!) as CallView;
  }
}

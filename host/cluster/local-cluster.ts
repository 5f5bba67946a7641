import type { TelephonyEvent } from "../webhooks.ts";
import type { CallAction, CallRecord, CallView, ClaimResult, Cluster, ClusterStatus } from "./cluster.ts";
import { statusError } from "./cluster.ts";

/**
 * REDIS_URL unset: a host on its own, exactly as before clusters existed. Every claim is granted
 * (the answering rules alone decide, ANSWER_MAX_PER_MINUTE included), the instanceId comes from
 * the sipInfo cache, and the call registry in memory is the whole truth.
 */
export class LocalCluster implements Cluster {
  readonly mode = "local" as const;

  constructor(readonly hostId = "local") {}

  status(): ClusterStatus {
    return { mode: "local", hostId: this.hostId, ready: true, reason: null, instanceSlot: null, hosts: null };
  }

  async connect(): Promise<void> {}
  async join(): Promise<void> {}

  async leaseInstance(): Promise<string | undefined> {
    return undefined;
  }

  async claim(): Promise<ClaimResult> {
    return { claimed: true };
  }

  async release(): Promise<void> {}
  async saveCall(): Promise<void> {}

  async listCalls(): Promise<CallRecord[]> {
    return [];
  }

  async getCall(): Promise<CallRecord | undefined> {
    return undefined;
  }

  async callIdForSession(): Promise<string | undefined> {
    return undefined;
  }

  async forward(record: CallRecord, _action: CallAction): Promise<CallView> {
    throw statusError(404, `no call ${record.view.id}`);
  }

  private listener: ((event: TelephonyEvent) => void) | undefined;

  onEvent(listener: (event: TelephonyEvent) => void): void {
    this.listener = listener;
  }

  async shareEvent(_uuid: string, event: TelephonyEvent): Promise<void> {
    this.listener?.(event);
  }

  /** On its own a host always holds its subscription. */
  onLeadership(listener: (leading: boolean) => void): void {
    listener(true);
  }

  onLeaseLost(): void {}

  async stop(): Promise<void> {}
}

import type { Logger } from "pino";
import { RETRY_CAP_MS } from "../backoff.ts";
import type { SubscriptionKeeper } from "../subscription.ts";
import type { Cluster } from "./cluster.ts";

/**
 * Webhook mode in a cluster: one telephony subscription for the whole extension, held by the
 * host that holds the cluster's subscription lease. It is made when this host takes the lease
 * (its sweep removes the subscription a lost holder left at the shared address), deleted when the
 * lease goes to another host or this host stops. A refused start is tried again every 30 s while
 * this host still holds the lease: RingCentral's refusal is then not the end of the host.
 */
export class SharedSubscription {
  private keeper: SubscriptionKeeper | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    cluster: Cluster,
    private readonly make: () => SubscriptionKeeper,
    private readonly log: Logger,
  ) {
    cluster.onLeadership((leading) => void (leading ? this.take() : this.giveUp()));
  }

  private async take(): Promise<void> {
    if (this.keeper || this.stopped) return;
    const keeper = this.make();
    this.keeper = keeper;
    const attempt = async (): Promise<void> => {
      try {
        await keeper.start();
      } catch (err) {
        if (this.keeper !== keeper || this.stopped) return;
        this.log.error({ err: (err as Error).message, retryInMs: RETRY_CAP_MS }, "webhook: the cluster's subscription could not be made; trying again");
        this.retry = setTimeout(() => void attempt(), RETRY_CAP_MS);
        this.retry.unref();
      }
    };
    await attempt();
  }

  private async giveUp(): Promise<void> {
    clearTimeout(this.retry);
    const keeper = this.keeper;
    this.keeper = undefined;
    await keeper?.stop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.giveUp();
  }
}

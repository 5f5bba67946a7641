/**
 * Call events out, composed: the emitter the call logic calls, the disk spool, the delivery.
 * Events emitted before the spool is open (the host starts it first thing) wait in memory.
 */
import type { Logger } from "pino";
import type { BackoffOptions } from "./backoff.ts";
import type { EventsConfig } from "./config.ts";
import { EventDelivery } from "./event-delivery.ts";
import { EventSpool } from "./event-spool.ts";
import { Events, type EventSink, type EventType, type SpooledEvent } from "./events.ts";
import type { Metrics } from "./metrics.ts";

/** How long a stopping host keeps trying to deliver what is spooled (the rest waits for the next start). */
export const STOP_GRACE_MS = 3000;

export class EventsOut implements EventSink {
  private spool: EventSpool | undefined;
  private delivery: EventDelivery | undefined;
  private readonly early: SpooledEvent[] = [];
  private readonly events: Events;

  constructor(
    private readonly config: EventsConfig,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    hostId: string,
    /** The delivery's retry waits (tests shorten them); ./backoff.ts's by default. */
    private readonly backoff?: BackoffOptions,
  ) {
    this.events = new Events((e) => this.append(e), hostId);
  }

  emit(type: EventType, data: Record<string, unknown>): void {
    this.events.emit(type, data);
  }

  /** Opens the spool (taking up a previous run's events) and starts delivering. */
  async start(): Promise<void> {
    const m = this.metrics;
    const dir = this.config.spoolDir;
    const spool = await EventSpool.open(
      dir,
      { maxEvents: this.config.spoolMaxEvents, maxBytes: this.config.spoolMaxBytes },
      (n) => {
        m.eventsDropped.inc({ reason: "spool-full" }, n);
        this.log.warn({ dropped: n }, "events: spool full, the oldest events dropped");
      },
      (ms) => m.eventsSpoolWriteMs.observe(ms),
    ).catch((err: Error) => {
      // The start's one error line: which setting, which directory, what the disk said.
      throw new Error(`EVENTS_SPOOL_DIR "${dir}" cannot be used for the events' spool (${err.message}): point it at a directory the host may write, e.g. a volume`);
    });
    if (spool.size) this.log.info({ spooled: spool.size }, "events: delivering what a previous run left");
    m.eventsBacklogOf = () => spool.size;
    this.delivery = new EventDelivery({
      url: this.config.url,
      secret: this.config.secret,
      spool,
      log: this.log,
      backoff: this.backoff,
      counters: {
        delivered: (type) => m.eventsDelivered.inc({ type }),
        failed: (reason) => m.eventsFailed.inc({ reason }),
        dropped: (reason) => m.eventsDropped.inc({ reason }),
      },
    });
    this.spool = spool;
    for (const e of this.early.splice(0)) this.append(e);
    this.delivery.start();
  }

  /** Every event emitted is on disk, then a short last try to deliver them. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    await this.spool?.flush();
    await this.delivery?.stop(graceMs);
  }

  private append(e: SpooledEvent): void {
    if (!this.spool) {
      this.early.push(e);
      return;
    }
    void this.spool.append(e, (err) => {
      this.metrics.eventsDropped.inc({ reason: "spool-write" });
      this.log.error({ event: e.id, type: e.type, err: err.message }, "events: could not spool the event: dropped");
    });
  }
}

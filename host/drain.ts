import type { Logger } from "pino";

/** What a drain needs of the host. */
export interface DrainTarget {
  /** While on, no new call is taken: each rings on for another host (never declined). */
  setDraining(on: boolean): void;
  /** Calls this host took and that have not ended (inbound calls only ringing here are not its). */
  callsInProgress(): number;
  /** Hears every change of a call's state. */
  onCallChange(listener: () => void): void;
  /** Hangs up every call in progress with `reason`; resolves when the page confirmed each. */
  hangupAll(reason: string): Promise<void>;
}

/** What /ready and GET /calls' host status say of a drain under way. */
export interface DrainStatus {
  since: string;
  /** What started it: `SIGTERM`, `SIGINT` or `POST /admin/drain`. */
  by: string;
  callsInProgress: number;
  /** When calls still up are hung up (`drain-timeout`). */
  hangUpAt: string;
}

/**
 * The zero-downtime drain (docs/DEPLOY.md): from `start()` the host takes no new call (/ready
 * 503, calls left ringing for the other hosts, POST /calls 503), and its calls in progress go on
 * until they end or DRAIN_TIMEOUT_S passes, when they are hung up (`drain-timeout`). `drained`
 * resolves then; what follows (unregister, recordings, Chrome, exit) is the caller's.
 */
export class Drain {
  private startedAtMs: number | undefined;
  private by = "";
  private finish: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: Array<() => void> = [];
  /** Resolves once no call of this host is left (ended by themselves, by timeout, or by `hurry`). */
  readonly drained: Promise<void>;

  constructor(
    private readonly target: DrainTarget,
    private readonly timeoutMs: number,
    private readonly log: Logger,
    private readonly gauge?: { set(v: number): void },
  ) {
    this.drained = new Promise((resolve) => (this.finish = resolve));
    gauge?.set(0);
    target.onCallChange(() => this.check());
  }

  get draining(): boolean {
    return this.startedAtMs !== undefined;
  }

  status(): DrainStatus | null {
    if (this.startedAtMs === undefined) return null;
    return { since: new Date(this.startedAtMs).toISOString(), by: this.by, callsInProgress: this.target.callsInProgress(), hangUpAt: new Date(this.startedAtMs + this.timeoutMs).toISOString() };
  }

  /** Hears the drain's start (the CLI stops the process once `drained` resolves). */
  onStart(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Starts the drain (a second start changes nothing); resolves with `drained`. */
  start(by: string): Promise<void> {
    if (this.startedAtMs !== undefined) return this.drained;
    this.startedAtMs = Date.now();
    this.by = by;
    this.target.setDraining(true);
    this.gauge?.set(1);
    this.log.info({ by, callsInProgress: this.target.callsInProgress(), timeoutMs: this.timeoutMs }, "drain: started; calls in progress go on, no new call is taken");
    this.timer = setTimeout(() => {
      this.log.warn({ callsInProgress: this.target.callsInProgress() }, "drain: DRAIN_TIMEOUT_S reached, hanging up the calls left");
      void this.target.hangupAll("drain-timeout");
    }, this.timeoutMs);
    for (const listener of this.listeners) listener();
    this.check();
    return this.drained;
  }

  /** Ends the drain's wait now: every call in progress is hung up (a second signal). */
  async hurry(reason = "shutdown"): Promise<void> {
    if (this.startedAtMs === undefined) this.start("hurry");
    await this.target.hangupAll(reason);
    this.check();
  }

  private check(): void {
    if (this.startedAtMs === undefined || this.target.callsInProgress() > 0 || !this.finish) return;
    clearTimeout(this.timer);
    this.log.info({ drainMs: Date.now() - this.startedAtMs }, "drain: no call left");
    this.finish();
    this.finish = undefined;
  }
}

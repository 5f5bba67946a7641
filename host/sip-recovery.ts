import type { Logger } from "pino";
import type { PageCommands } from "../bridge/page-link.ts";
import { sipStatusOf } from "../bridge/page-protocol.ts";
import { BACKOFF, retryWaitMs, type BackoffOptions } from "./backoff.ts";
import type { Metrics } from "./metrics.ts";
import type { Provisioned } from "./ringcentral.ts";

export type SipProxy = "primary" | "backup";

/** How long answered calls are kept while SIP is down (their media may well still flow). */
export const CALLS_OUTLIVE_SIP_MS = 25_000;
/** One reconnect: socket open (5 s), digest REGISTER (≤ 12 s), then the re-INVITEs (8 s). */
const RECONNECT_TIMEOUT_MS = 30_000;
/** RingCentral counts 5 registered instances per extension; a stale one lingers for minutes. */
export const TOO_MANY_INSTANCES_WAIT_MS = 60_000;
export const TOO_MANY_INSTANCES =
  "RingCentral refuses another registration for this extension (603): it already has 5 registered instances, its limit. Stop other WebPhone instances of this extension, or wait for stale ones to expire; retrying slowly";
/**
 * The REST backoff with a lower cap: every second without registration is a call that rings
 * elsewhere, and at most 5 hosts share an extension, so there is no herd to spread out.
 */
export const SIP_BACKOFF: BackoffOptions = { ...BACKOFF, capMs: 10_000 };
/** Attempts on one proxy before trying the other. */
const ATTEMPTS_PER_PROXY = 2;
/** On the backup proxy this long with no call up: move back to the primary. */
export const PRIMARY_AGAIN_MS = 10 * 60_000;

/** What /status shows of SIP recovery. */
export interface SipState {
  reconnecting: boolean;
  proxy: SipProxy;
  /** When the registration was last lost, and last came back (epoch ms): the last outage. */
  lostAtMs: number | null;
  recoveredAtMs: number | null;
  nextAttemptAtMs: number | null;
  lastError: string | null;
}

export interface SipRecoveryDeps {
  page: PageCommands;
  log: Logger;
  metrics: Metrics;
  /** Whether sipInfo names a backup proxy other than the primary. */
  hasBackup(): boolean;
  /** A fresh sipInfo from RingCentral (it refused the one in use). */
  reprovision(): Promise<Provisioned>;
  setRegistered(on: boolean): void;
  /** Calls still up: ended `sip-lost` when SIP stays down past CALLS_OUTLIVE_SIP_MS. */
  activeCalls(): number;
  endCalls(reason: string): void;
  stopping(): boolean;
}

/** Which proxy an attempt uses: `start` first, then alternating every ATTEMPTS_PER_PROXY. */
export function proxyFor(attempt: number, start: SipProxy, hasBackup: boolean): SipProxy {
  if (!hasBackup) return "primary";
  const flips = Math.floor((attempt - 1) / ATTEMPTS_PER_PROXY) % 2 === 1;
  return flips ? (start === "primary" ? "backup" : "primary") : start;
}

/** Why RingCentral refused, as an operator reads it; undefined for a plain outage. */
export function refusalOf(status: number | undefined): "credentials" | "too-many-instances" | undefined {
  if (status === 401 || status === 403 || status === 407) return "credentials";
  if (status === 603) return "too-many-instances";
  return undefined;
}

/**
 * Brings the registration back after the page reports it lost: reconnect with backoff and jitter,
 * the backup outbound proxy after repeated failures (and the primary again later), a fresh
 * sipInfo when RingCentral refuses the credentials, a clear error and a slow pace for the
 * 5-instance limit. Calls the page cannot keep are ended `sip-lost`.
 */
export class SipRecovery {
  private running = false;
  /** Bumped by cancel(): a loop of an older generation stops at its next step. */
  private generation = 0;
  private lostAtMs = 0;
  private proxy: SipProxy = "primary";
  private callsTimer: NodeJS.Timeout | undefined;
  private primaryTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  /** What the last failure was, and when the next attempt is due, for /status. */
  lastError: string | undefined;
  private nextAttemptAtMs: number | undefined;
  private recoveredAtMs: number | undefined;

  constructor(private readonly d: SipRecoveryDeps) {}

  get state(): SipState {
    return {
      reconnecting: this.running,
      proxy: this.proxy,
      lostAtMs: this.lostAtMs || null,
      recoveredAtMs: this.recoveredAtMs ?? null,
      nextAttemptAtMs: this.running ? (this.nextAttemptAtMs ?? null) : null,
      lastError: this.lastError ?? null,
    };
  }

  /** The page lost its registration. */
  lost(reason: string, status?: number): void {
    if (this.d.stopping() || this.running) return;
    this.running = true;
    this.lostAtMs = Date.now();
    this.lastError = reason;
    this.d.setRegistered(false);
    this.d.metrics.sipLost.inc();
    this.d.log.error({ reason, status: status ?? null, calls: this.d.activeCalls(), proxy: this.proxy }, "sip: registration lost; reconnecting");
    clearTimeout(this.primaryTimer);
    clearTimeout(this.callsTimer);
    if (this.d.activeCalls()) {
      this.callsTimer = setTimeout(() => {
        if (!this.running) return;
        this.d.log.error({ calls: this.d.activeCalls(), afterMs: CALLS_OUTLIVE_SIP_MS }, "sip: still down; ending the calls it carried");
        this.d.endCalls("sip-lost");
      }, CALLS_OUTLIVE_SIP_MS);
    }
    void this.run(refusalOf(status) === "credentials");
  }

  /** No more attempts: the host stops, or the whole page is being relaunched (it registers anew). */
  cancel(): void {
    this.generation++;
    this.running = false;
    this.proxy = "primary";
    clearTimeout(this.callsTimer);
    clearTimeout(this.primaryTimer);
    this.wake?.();
  }

  private async run(freshFirst: boolean): Promise<void> {
    // Every outage starts on the primary: the backup is for while the primary is down.
    const start: SipProxy = "primary";
    const generation = this.generation;
    const current = () => generation === this.generation && !this.d.stopping();
    let fresh = freshFirst;
    for (let attempt = 1; current(); attempt++) {
      const proxy = proxyFor(attempt, start, this.d.hasBackup());
      let waitMs = retryWaitMs(attempt, undefined, SIP_BACKOFF);
      try {
        const sipInfo = fresh ? (await this.d.reprovision()).sipInfo : undefined;
        if (!current()) return;
        await this.d.page.request({ type: "reconnect", backup: proxy === "backup", ...(sipInfo && { sipInfo }) }, RECONNECT_TIMEOUT_MS);
        if (current()) this.recovered(proxy, attempt, fresh);
        return;
      } catch (err) {
        if (!current()) return;
        const message = (err as Error).message;
        this.lastError = message;
        const status = sipStatusOf(message);
        const refusal = refusalOf(status);
        fresh = refusal === "credentials";
        this.d.metrics.sipReconnects.inc({ result: refusal ?? "failed" });
        if (refusal === "too-many-instances") {
          waitMs = Math.max(waitMs, TOO_MANY_INSTANCES_WAIT_MS);
          this.d.log.error({ attempt, waitMs, status }, `sip: ${TOO_MANY_INSTANCES}`);
        } else {
          this.d.log.warn({ attempt, proxy, waitMs, err: message, reprovisionNext: fresh }, "sip: reconnect failed, retrying");
        }
      }
      this.nextAttemptAtMs = Date.now() + waitMs;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  private recovered(proxy: SipProxy, attempt: number, reprovisioned: boolean): void {
    this.running = false;
    this.nextAttemptAtMs = undefined;
    this.recoveredAtMs = Date.now();
    this.proxy = proxy;
    this.lastError = undefined;
    clearTimeout(this.callsTimer);
    this.d.setRegistered(true);
    const downMs = Date.now() - this.lostAtMs;
    this.d.metrics.sipReconnects.inc({ result: "ok" });
    this.d.log.info({ downMs, attempt, proxy, reprovisioned }, "sip: registered again");
    if (proxy === "backup") this.schedulePrimary();
  }

  /** Back to the primary proxy once it has had time to recover, and only while no call would notice. */
  private schedulePrimary(): void {
    clearTimeout(this.primaryTimer);
    this.primaryTimer = setTimeout(() => void this.tryPrimary(), PRIMARY_AGAIN_MS);
    this.primaryTimer.unref();
  }

  private async tryPrimary(): Promise<void> {
    if (this.running || this.d.stopping() || this.proxy !== "backup") return;
    if (this.d.activeCalls()) return this.schedulePrimary();
    try {
      await this.d.page.request({ type: "reconnect", backup: false }, RECONNECT_TIMEOUT_MS);
      this.proxy = "primary";
      this.d.log.info("sip: back on the primary proxy");
    } catch (err) {
      // The backup still works: stay there without a gap in registration worth reporting.
      this.d.log.warn({ err: (err as Error).message }, "sip: the primary proxy is still refusing; staying on the backup");
      await this.d.page.request({ type: "reconnect", backup: true }, RECONNECT_TIMEOUT_MS).then(
        () => this.schedulePrimary(),
        (e: Error) => this.lost(`the backup proxy failed too: ${e.message}`),
      );
    }
  }
}

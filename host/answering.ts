import { setTimeout as delay } from "node:timers/promises";
import type { Logger } from "pino";
import type { PageCommands, PageEventOf } from "../bridge/page-link.ts";
import type { CallStream } from "../bridge/stream.ts";
import type { AnswerRules } from "./answer-rules.ts";
import type { CallLifecycle } from "./call-lifecycle.ts";
import type { StreamFactory } from "./call-streams.ts";
import type { Call, CallRegistry } from "./calls.ts";
import type { AnswerConfig, PipelineConfig } from "./config.ts";
import type { CallClaims } from "./cluster/cluster-calls.ts";
import type { Metrics } from "./metrics.ts";
import { WebhookAnswering } from "./webhook-answering.ts";
import type { TelephonyEvent } from "./webhooks.ts";

/** How long the apology may take beyond its own length (it needs media up to play). */
const APOLOGY_GRACE_MS = 10_000;
/**
 * In a cluster, how often a call left ringing here for a reason that passes (a cluster-wide
 * limit, Redis away, no free slot) is claimed again: nothing tells this host that another host's
 * call ended, and RingCentral rings the call on every host until one answers.
 */
export const RECLAIM_EVERY_MS = 1000;

export interface AnsweringDeps {
  answer: AnswerConfig;
  downAction: PipelineConfig["downAction"];
  calls: CallRegistry;
  rules: AnswerRules;
  page: PageCommands;
  streams: StreamFactory;
  lifecycle: CallLifecycle;
  metrics: Metrics;
  log: Logger;
  /** The pipeline-down message, PCM16 at the page's rate. */
  apology: Int16Array;
  sampleRate: number;
  stopping(): boolean;
  extensionId(): string | undefined;
  /** Call Control answer of a call ringing elsewhere, aimed at this host's device; `signal` ends its retries. */
  fetchCall(telephonySessionId: string, partyId: string, signal: AbortSignal): Promise<void>;
  /** The cluster's claims: absent, every call is this host's to take. */
  claims?: CallClaims;
  /** A draining host takes no new call: each is left ringing for another host. */
  draining?(): boolean;
}

/**
 * Where an inbound call's answer is decided: a call rings → the rules (or, in webhook mode, the
 * webhook's verdict) → the pipeline is dialled first → only then is the call answered. A pipeline
 * that is down never leaves a caller in dead air: PIPELINE_DOWN_ACTION apologises or lets it ring.
 */
export class Answering {
  private readonly webhook: WebhookAnswering | undefined;
  /** Cluster claims on this host, one after another (see claimInTurn). */
  private turns: Promise<void> = Promise.resolve();
  /** Calls left ringing here for a reason that may pass: claimed again every RECLAIM_EVERY_MS. */
  private readonly waiting = new Set<Call>();
  private readonly reclaiming = new Set<Call>();
  private reclaimTimer: NodeJS.Timeout | undefined;

  constructor(private readonly d: AnsweringDeps) {
    if (d.answer.mode === "webhook") {
      this.webhook = new WebhookAnswering(
        {
          extensionId: d.extensionId,
          callFor: (id) => d.calls.byTelephonySession(id),
          busyCalls: () => this.busyCalls(),
          answer: (call) => this.answer(call),
          refuse: (call, reason) => this.refuse(call, reason),
          fetch: (id, partyId, signal) => this.fetch(id, partyId, signal),
          stopping: d.stopping,
        },
        d.rules,
        d.log,
      );
    }
  }

  /** A call rings here (the page's `incoming`). */
  async onIncoming(e: PageEventOf<"incoming">): Promise<void> {
    // The same call reported twice must not make a second Call: the first would never end (its slot held for good).
    if (this.d.calls.bySipCallId(e.sipCallId)) return void this.d.log.warn({ sipCallId: e.sipCallId }, "call: incoming repeated for a known call, ignored");
    const call = this.d.calls.add({
      sipCallId: e.sipCallId,
      direction: "inbound",
      from: e.from,
      fromName: e.fromName,
      to: e.to,
      telephonySessionId: e.telephonySessionId,
      partyId: e.partyId,
    });
    this.d.log.info({ call: call.id, from: e.from, to: e.to, telephonySessionId: e.telephonySessionId, partyId: e.partyId, autoAnswer: e.autoAnswer }, "call: ringing");
    if (this.webhook) {
      // The webhook decides; it may have already (then the call was approved, or fetched here by Call Control).
      const decision = this.webhook.decision(call.telephonySessionId);
      if (decision?.approved) await this.answer(call);
      else if (decision) await this.refuse(call, decision.reason);
      return;
    }
    const verdict = this.d.rules.check(call.from, this.busyCalls());
    // In a cluster a host at its own MAX_CONCURRENT_CALLS leaves the call to the others, and claims it again once a slot frees.
    if (!verdict.answer && this.d.claims?.clustered && this.d.rules.refusesCaller(call.from) === undefined) return this.leaveRinging(call, verdict.reason, true);
    if (!verdict.answer) return this.refuse(call, verdict.reason);
    await this.answer(call);
  }

  /** A telephony/sessions event (deduplicated by the receiver): only webhook mode acts on it. */
  onTelephonyEvent(event: TelephonyEvent): void {
    this.webhook?.onEvent(event);
  }

  /** Dials the pipeline first, then answers: the caller hears the agent from the first moment. */
  async answer(call: Call): Promise<void> {
    if (this.d.stopping()) return;
    if (this.d.draining?.()) return this.leaveRinging(call, "this host is draining");
    // On its own the host takes a slot at once (nothing awaited before the call is `answering`).
    const slot = this.d.claims?.clustered ? await this.claimInTurn(call) : this.d.calls.takeSlot();
    if (slot === undefined) return this.d.claims?.clustered ? undefined : this.declineForCapacity(call);
    this.waiting.delete(call);
    call.endReason = undefined; // a refusal that passed (claimed again) is not why the call ends
    call.slot = slot;
    call.state = "answering";
    this.d.calls.changed(call);
    this.d.rules.taken();
    const stream = this.d.streams.create(call, slot);
    call.stream = stream;
    try {
      await stream.open(this.d.streams.info(call));
    } catch (err) {
      // The caller gave up while the pipeline was dialled: finish() has closed the stream, its
      // dial and its slot. Nothing is down, and nothing is left to answer.
      if (stream.isClosed) return;
      await this.onPipelineDown(call, stream, (err as Error).message);
      return;
    }
    if (stream.isClosed) return;
    try {
      await this.d.page.request({ type: "answer", sipCallId: call.sipCallId, slot });
    } catch (err) {
      // An answer the page could not give must not leave the pipeline waiting on a call nobody answers.
      if (stream.isClosed) return; // the call ended meanwhile
      this.d.log.error({ call: call.id, err: (err as Error).message }, "call: the page could not answer; hanging up");
      await this.d.lifecycle.hangup(call.id, "failed");
    }
  }

  /** A host on its own with no free slot (a race with outbound calls): declined (`capacity`). */
  private async declineForCapacity(call: Call): Promise<void> {
    this.d.log.warn({ call: call.id, max: this.d.calls.slots }, "call: at MAX_CONCURRENT_CALLS, declining");
    await this.d.page.request({ type: "decline", sipCallId: call.sipCallId }).catch(() => {});
    this.d.calls.end(call, "capacity");
  }

  /**
   * In a cluster: one claim at a time on this host, so a slot given back by a lost claim is there
   * for the next call (calls ring on every host at once, and no call is left for want of a slot a
   * host still had).
   */
  private claimInTurn(call: Call): Promise<number | undefined> {
    const turn = this.turns.then(() => this.claimWithSlot(call));
    this.turns = turn.then(
      () => {},
      () => {},
    );
    return turn;
  }

  /** The slot first, then the claim: a host claims only a call it can take. */
  private async claimWithSlot(call: Call): Promise<number | undefined> {
    // Ended, or taken here meanwhile (a claim again that crossed the webhook's answer).
    if (call.state !== "ringing") return undefined;
    const slot = this.d.calls.takeSlot();
    // Never declined: a 603 from one instance could end the call for a host that has a slot.
    if (slot === undefined) return void this.leaveRinging(call, `no free slot (MAX_CONCURRENT_CALLS ${this.d.calls.slots})`, true);
    const claim = await this.d.claims!.claim(call);
    this.d.metrics.clusterClaims.inc({ result: claim.claimed ? "claimed" : claim.refusal });
    // The call may have ended while Redis answered (CANCEL: another instance answered, or the caller gave up).
    const ended = (call as { state: string }).state === "ended";
    if (claim.claimed && !ended) return slot;
    this.d.calls.returnSlot(slot);
    if (!claim.claimed && !ended) this.leaveRinging(call, claim.reason, claim.refusal !== "taken");
    return undefined;
  }

  private async refuse(call: Call, reason: string): Promise<void> {
    // In a cluster only the caller rules (the same on every host) may decline: a 603 from one
    // instance can end the call for all of them, and another host may have room for it.
    const decline = this.d.answer.refusedAction === "decline" && (!this.d.claims?.clustered || this.d.rules.refusesCaller(call.from) !== undefined);
    const action = decline ? "decline" : "ring";
    this.d.log.info({ call: call.id, from: call.from, reason, action }, "call: refused by the rules");
    call.endReason = `refused: ${reason}`;
    if (decline) await this.d.page.request({ type: "decline", sipCallId: call.sipCallId }).catch(() => {});
  }

  /**
   * Not this host's call (another host has it, a limit, draining, Redis away): it rings on, never
   * declined. `reclaim`: the reason may pass (a limit, Redis away, no free slot), so the call is
   * claimed again until it is answered somewhere or ends.
   */
  private leaveRinging(call: Call, reason: string, reclaim = false): void {
    // Logged once per call, not at every claim again.
    if (!this.waiting.has(call)) this.d.log.info({ call: call.id, from: call.from, reason, reclaim }, "call: left ringing for another host");
    call.endReason = `refused: ${reason}`;
    if (!reclaim || this.d.stopping()) return void this.waiting.delete(call);
    this.waiting.add(call);
    this.reclaimTimer ??= setInterval(() => this.reclaim(), RECLAIM_EVERY_MS).unref();
  }

  /** Each call still ringing here that was left for a passing reason: claimed again (in turn, one try at a time). */
  private reclaim(): void {
    for (const call of this.waiting) {
      if (call.state !== "ringing" || this.d.stopping()) {
        this.waiting.delete(call);
        continue;
      }
      if (this.reclaiming.has(call)) continue;
      this.reclaiming.add(call);
      void this.answer(call)
        .catch((err) => this.d.log.error({ call: call.id, err: (err as Error).message }, "call: answering failed"))
        .finally(() => this.reclaiming.delete(call));
    }
    if (this.waiting.size === 0) this.stop();
  }

  /** No more claiming again: nothing waits, or the host stops. */
  stop(): void {
    clearInterval(this.reclaimTimer);
    this.reclaimTimer = undefined;
    if (this.d.stopping()) this.waiting.clear();
  }

  /** Webhook mode: in a cluster the session is claimed before Call Control brings it here, so one host fetches it. */
  private async fetch(telephonySessionId: string, partyId: string, signal: AbortSignal): Promise<void> {
    const claims = this.d.claims;
    // Alone or in a cluster: a draining host never brings a call to itself (it would only ring here).
    if (this.d.draining?.()) return void this.d.log.info({ telephonySessionId }, "call control: not fetching, this host is draining");
    if (claims?.clustered) {
      const claim = await claims.claimSession(telephonySessionId);
      if (!claim.claimed) return void this.d.log.info({ telephonySessionId, reason: claim.reason }, "call control: not fetching, another host takes it");
    }
    try {
      await this.d.fetchCall(telephonySessionId, partyId, signal);
    } catch (err) {
      claims?.abandon(telephonySessionId);
      throw err;
    }
  }

  /** Answered or being answered: ringing calls do not count against the cap. */
  private busyCalls(): number {
    return this.d.calls.active().filter((c) => c.state !== "ringing").length;
  }

  /** PIPELINE_DOWN_ACTION: apologise and hang up, or leave the call ringing for someone else. */
  private async onPipelineDown(call: Call, stream: CallStream, why: string): Promise<void> {
    const action = this.d.downAction;
    this.d.metrics.pipelineFailures.inc({ kind: "unreachable" });
    this.d.log.error({ call: call.id, err: why, action }, "pipeline: unreachable as the call arrives");
    call.endReason = "pipeline-unreachable";
    if (action === "ring") {
      void stream.close("pipeline-unreachable");
      call.stream = undefined;
      this.d.calls.releaseSlot(call);
      call.state = "ringing";
      return;
    }
    const answered = await this.d.page.request({ type: "answer", sipCallId: call.sipCallId, slot: call.slot! }).then(
      () => true,
      () => false,
    );
    if (!answered) return this.d.lifecycle.hangup(call.id, "pipeline-unreachable");
    // Resolves once played, which needs media up: bounded in case it never comes.
    const apologyMs = (this.d.apology.length * 1000) / this.d.sampleRate;
    // A call that ends meanwhile closes the stream, which settles the announcement at once.
    const bound = new AbortController();
    await Promise.race([stream.announce(this.d.apology), delay(apologyMs + APOLOGY_GRACE_MS, undefined, { signal: bound.signal }).catch(() => {})]);
    bound.abort();
    await this.d.lifecycle.hangup(call.id, "pipeline-unreachable");
  }
}


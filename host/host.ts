import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { buildPage } from "../browser/build.ts";
import { PageLink } from "../bridge/page-link.ts";
import type { PageEvent } from "../bridge/page-protocol.ts";
import { profileWantsPcmu } from "../bridge/pipeline/index.ts";
import { loadApology } from "./announcement.ts";
import { AnswerRules } from "./answer-rules.ts";
import { Answering } from "./answering.ts";
import { CallControl, type ControlVerb } from "./call-control.ts";
import { CallLifecycle } from "./call-lifecycle.ts";
import { CallStreams } from "./call-streams.ts";
import { CallRegistry, type Call } from "./calls.ts";
import type { Config } from "./config.ts";
import { Metrics } from "./metrics.ts";
import { Outbound, type PlaceCallOptions } from "./outbound.ts";
import { PhonePage } from "./phone-page.ts";
import type { SipState } from "./sip-recovery.ts";
import { RingCentral, describeRcError } from "./ringcentral.ts";
import { SubscriptionKeeper } from "./subscription.ts";
import { WebhookReceiver, type TelephonyEvent } from "./webhooks.ts";

export type { PlaceCallOptions } from "./outbound.ts";

export interface HostStatus {
  chrome: boolean;
  registered: boolean;
  /** SIP recovery: whether it is reconnecting, on which proxy, since when, the last failure. */
  sip: SipState;
  calls: number;
}

/**
 * The host, composed: RingCentral REST, the page link, Chrome and the phone page, and the call
 * logic (answering, outbound, control, lifecycle). It wires them, starts and stops them in order,
 * routes the page's events, and is the one object the CLI, the HTTP API and the tests hold.
 */
export class Host {
  readonly calls: CallRegistry;
  readonly metrics = new Metrics();
  readonly webhooks: WebhookReceiver;
  private readonly rc: RingCentral;
  private readonly link: PageLink;
  private readonly phone: PhonePage;
  private readonly lifecycle: CallLifecycle;
  private readonly answering: Answering;
  private readonly outbound: Outbound;
  private readonly callControl: CallControl;
  private subscription: SubscriptionKeeper | undefined;
  private stopping = false;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    const profile = config.pipeline.profile;
    const sampleRate = profile.sampleRate;
    const stopping = () => this.stopping;
    this.calls = new CallRegistry(config.answer.maxConcurrentCalls);
    this.rc = new RingCentral(config.ringcentral, config.sipInfoCachePath, log.child({ part: "ringcentral" }));
    this.link = new PageLink(log.child({ part: "page-link" }));
    const page = this.link;
    const calls = this.calls;
    const metrics = this.metrics;
    this.lifecycle = new CallLifecycle({ calls, page, metrics, log, sampleRate, recordingsDir: config.recordingsDir });
    const lifecycle = this.lifecycle;
    const streams = new CallStreams(this.link, profile, config.pipeline, () => this.rc.extension!.accountId, this, log);
    this.callControl = new CallControl({ calls, page, streams, lifecycle, log });
    this.answering = new Answering({
      answer: config.answer,
      downAction: config.pipeline.downAction,
      calls,
      rules: new AnswerRules(config.answer),
      page,
      streams,
      lifecycle,
      metrics,
      log: log.child({ part: "answering" }),
      apology: loadApology(sampleRate),
      sampleRate,
      stopping,
      extensionId: () => this.rc.extension?.extensionId,
      fetchCall: (telephonySessionId, partyId) => this.fetchCall(telephonySessionId, partyId),
    });
    this.outbound = new Outbound({ calls, page, streams, lifecycle, log, sampleRate, extensionNumber: () => this.rc.extension?.extensionNumber ?? "" });
    this.phone = new PhonePage({
      config,
      rc: this.rc,
      link: this.link,
      metrics,
      log,
      sampleRate,
      slots: calls.slots,
      preferCodec: profileWantsPcmu(profile) ? "PCMU" : "opus",
      onLost: () => lifecycle.finishAll("page-lost"),
      activeCalls: () => calls.active().length,
      endCalls: (reason) => {
        for (const call of calls.active()) void lifecycle.hangup(call.id, reason);
      },
      stopping,
    });
    this.link.on("event", (e) => this.onPageEvent(e));
    this.webhooks = new WebhookReceiver(config.webhook.verificationToken ?? randomUUID().replace(/-/g, ""), (e) => this.onTelephonyEvent(e), log.child({ part: "webhooks" }));
  }

  status(): HostStatus {
    return { ...this.phone.status, calls: this.calls.active().length };
  }

  get deviceId(): string | undefined {
    return this.phone.deviceId;
  }

  /** Call sessions alive in the page (diagnostics and tests: 0 once every call has ended). */
  pageSessionCount(): Promise<number> {
    return this.phone.sessionCount();
  }

  /** Chrome's process (diagnostics and the recovery test). */
  browserProcess() {
    return this.phone.browserProcess();
  }

  /** The Chrome page (diagnostics and the bench). */
  chromePage() {
    return this.phone.chromePage();
  }

  async start(): Promise<void> {
    const t0 = performance.now();
    let provisioned;
    try {
      await this.rc.login();
      provisioned = await this.rc.provision();
    } catch (err) {
      throw new Error(describeRcError(err, this.config.ringcentral.serverUrl));
    }
    await this.link.listen(await buildPage());
    await this.phone.start(provisioned);
    if (this.config.webhook.publicUrl) {
      this.subscription = new SubscriptionKeeper(
        this.rc,
        `${this.config.webhook.publicUrl}/webhooks/ringcentral`,
        this.webhooks.verificationToken,
        this.config.webhook.subscriptionExpiresS,
        this.log.child({ part: "subscription" }),
      );
      await this.subscription.start();
    }
    this.log.info({ startupMs: Math.round(performance.now() - t0), deviceId: provisioned.deviceId }, "host: ready");
  }

  /** Hang up every call, unregister, close Chrome: in that order, so RingCentral sees clean ends. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info({ calls: this.calls.active().length }, "host: stopping");
    await this.subscription?.stop();
    await Promise.all(this.calls.active().map((c) => this.lifecycle.hangup(c.id, "shutdown")));
    // Calls whose end the page has not reported yet are ended here, so their recordings close.
    this.lifecycle.finishAll("shutdown");
    await this.phone.unregister();
    await this.lifecycle.flush();
    await this.phone.close();
    await this.link.close();
    await this.rc.logout();
    this.log.info("host: stopped");
  }

  // ── what the API does to calls ────────────────────────────────────────────────

  placeCall(to: string, from?: string, opts?: PlaceCallOptions): Promise<Call> {
    return this.outbound.placeCall(to, from, opts);
  }

  hangup(callId: string, reason = "host-hangup"): Promise<void> {
    return this.lifecycle.hangup(callId, reason);
  }

  control(callId: string, verb: ControlVerb, action?: "start" | "stop"): Promise<void> {
    return this.callControl.control(callId, verb, action);
  }

  sendDtmf(callId: string, digits: string): Promise<void> {
    return this.callControl.sendDtmf(callId, digits);
  }

  transfer(callId: string, target: string, mode: "blind" | "warm"): Promise<void> {
    return this.callControl.transfer(callId, target, mode);
  }

  /** A telephony/sessions event from RingCentral's webhook (deduplicated by the receiver). */
  onTelephonyEvent(event: TelephonyEvent): void {
    this.metrics.webhookEvents.inc();
    this.answering.onTelephonyEvent(event);
  }

  private onPageEvent(e: PageEvent): void {
    switch (e.type) {
      case "incoming":
        return void this.answering.onIncoming(e).catch((err) => this.log.error({ err: (err as Error).message }, "call: answering failed"));
      case "answered":
        return this.lifecycle.onAnswered(e);
      case "mediaConnected":
        return this.lifecycle.onMediaConnected(e);
      case "ended":
        return this.lifecycle.onEnded(e);
      case "registrationFailed":
        return this.phone.onRegistrationFailed();
      case "sipLost":
        return this.phone.onSipLost(e.reason, e.status);
      case "log":
        return void this.log[e.level]({ call: e.sipCallId, from: "page" }, e.msg);
      default:
        return;
    }
  }

  /** Call Control answer: RingCentral moves a call ringing elsewhere to this host's device. */
  private async fetchCall(telephonySessionId: string, partyId: string): Promise<void> {
    try {
      await this.rc.platform.post(`/restapi/v1.0/account/~/telephony/sessions/${telephonySessionId}/parties/${partyId}/answer`, { deviceId: this.phone.deviceId });
    } catch (err) {
      throw new Error(describeRcError(err, this.config.ringcentral.serverUrl));
    }
    this.log.info({ telephonySessionId, partyId }, "call control: answer requested for this device");
  }
}

import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { buildPage } from "../browser/build.ts";
import { PageLink } from "../bridge/page-link.ts";
import type { PageEvent } from "../bridge/page-protocol.ts";
import { profileWantsPcmu, profileWith, protocolNamed } from "../bridge/pipeline/index.ts";
import { loadApology } from "./announcement.ts";
import { AnswerRules } from "./answer-rules.ts";
import { Answering } from "./answering.ts";
import { CallControl, type ControlVerb } from "./call-control.ts";
import { CallLifecycle } from "./call-lifecycle.ts";
import { CallStreams } from "./call-streams.ts";
import { CallActions } from "./call-actions.ts";
import { CallRegistry, type Call } from "./calls.ts";
import { statusError, type CallAction, type Cluster, type ClusterStatus } from "./cluster/cluster.ts";
import { ClusterCalls } from "./cluster/cluster-calls.ts";
import { createCluster } from "./cluster/create.ts";
import { SharedSubscription } from "./cluster/shared-subscription.ts";
import type { Config } from "./config.ts";
import { Drain, type DrainStatus } from "./drain.ts";
import { NO_EVENTS, type EventSink } from "./events.ts";
import { EventsOut } from "./events-out.ts";
import { Metrics } from "./metrics.ts";
import { Outbound, type PlaceCallOptions } from "./outbound.ts";
import { PhonePage } from "./phone-page.ts";
import type { SipState } from "./sip-recovery.ts";
import { RingCentral, describeRcError } from "./ringcentral.ts";
import { StartupTimeline } from "./startup-timeline.ts";
import { SubscriptionKeeper } from "./subscription.ts";
import { WebhookReceiver, type TelephonyEvent } from "./webhooks.ts";

export type { PlaceCallOptions } from "./outbound.ts";

export interface HostStatus {
  chrome: boolean;
  registered: boolean;
  /** The page's audio graph is built (it finishes after the registration at start). */
  audio: boolean;
  /** SIP recovery: whether it is reconnecting, on which proxy, since when, the last failure. */
  sip: SipState;
  calls: number;
  /** REDIS_URL: this host's place in the cluster (`ready` false: Redis away, or no instance lease). */
  cluster: ClusterStatus;
  /** A drain under way (SIGTERM, POST /admin/drain), else null. */
  draining: DrainStatus | null;
}

/** A call this host took (or placed): an inbound call only ringing here is not one, and is never hung up by a drain or a stop. */
const taken = (c: Call) => c.state !== "ended" && !(c.direction === "inbound" && c.state === "ringing");

/**
 * The host, composed: RingCentral REST, the page link, Chrome and the phone page, and the call
 * logic (answering, outbound, control, lifecycle). It wires them, starts and stops them in order,
 * routes the page's events, and is the one object the CLI, the HTTP API and the tests hold.
 */
export class Host {
  readonly calls: CallRegistry;
  readonly metrics = new Metrics();
  readonly webhooks: WebhookReceiver;
  readonly cluster: Cluster;
  /** SIGTERM / POST /admin/drain: no new call, calls in progress go on until they end or DRAIN_TIMEOUT_S. */
  readonly drain: Drain;
  private readonly clusterCalls: ClusterCalls;
  /** EVENTS_URL: the call events' spool and delivery. */
  private readonly eventsOut: EventsOut | undefined;
  private readonly rc: RingCentral;
  private readonly link: PageLink;
  private readonly phone: PhonePage;
  private readonly lifecycle: CallLifecycle;
  private readonly answering: Answering;
  private readonly outbound: Outbound;
  private readonly callControl: CallControl;
  private readonly actions: CallActions;
  private subscription: SubscriptionKeeper | undefined;
  /** In a cluster, the extension's one subscription, held by one host at a time. */
  private sharedSubscription: SharedSubscription | undefined;
  private stopping = false;
  /** Set by the drain: no new call is taken (each is left ringing for another host). */
  private draining = false;
  /** Aborted by stop(): ends a wait for an instance lease. */
  private readonly stopped = new AbortController();

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    const profile = config.pipeline.profile;
    const sampleRate = profile.sampleRate;
    const stopping = () => this.stopping;
    this.calls = new CallRegistry(config.answer.maxConcurrentCalls);
    this.cluster = createCluster(config, log.child({ part: "cluster" }));
    const clustered = this.cluster.mode === "redis";
    this.metrics.clusterReadiness = () => this.cluster.status().ready;
    // In a cluster the per-minute window is the cluster's (checked with the claim); local rules keep the rest.
    this.clusterCalls = new ClusterCalls(this.calls, this.cluster, { maxActive: config.cluster?.maxConcurrentCalls, maxPerMinute: config.answer.maxPerMinute }, log);
    this.rc = new RingCentral(config.ringcentral, config.sipInfoCachePath, log.child({ part: "ringcentral" }), { retries: this.metrics.restRetries });
    this.link = new PageLink(log.child({ part: "page-link" }));
    const page = this.link;
    const calls = this.calls;
    const metrics = this.metrics;
    this.eventsOut = config.events ? new EventsOut(config.events, metrics, log.child({ part: "events" }), config.cluster?.hostId ?? hostname()) : undefined;
    const events: EventSink = this.eventsOut ?? NO_EVENTS;
    this.lifecycle = new CallLifecycle({ calls, page, metrics, log, sampleRate, recordingsDir: config.recordingsDir, events });
    const lifecycle = this.lifecycle;
    const streams = new CallStreams(this.link, profile, config.pipeline, () => this.rc.extension!.accountId, this, log);
    this.callControl = new CallControl({ calls, page, streams, lifecycle, log });
    this.actions = new CallActions({ calls, clusterCalls: this.clusterCalls, lifecycle, control: this.callControl, deviceId: () => this.phone.deviceId, draining: () => this.draining });
    this.answering = new Answering({
      answer: config.answer,
      downAction: config.pipeline.downAction,
      calls,
      rules: new AnswerRules(clustered ? { ...config.answer, maxPerMinute: undefined } : config.answer),
      page,
      streams,
      lifecycle,
      metrics,
      log: log.child({ part: "answering" }),
      apology: loadApology(sampleRate),
      sampleRate,
      stopping,
      extensionId: () => this.rc.extension?.extensionId,
      fetchCall: (telephonySessionId, partyId, signal) => this.fetchCall(telephonySessionId, partyId, signal),
      claims: this.clusterCalls,
      draining: () => this.draining,
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
      uplink: config.pipeline.uplink,
      onLost: () => lifecycle.finishAll("page-lost"),
      activeCalls: () => calls.active().length,
      endCalls: (reason) => {
        for (const call of calls.active()) void lifecycle.hangup(call.id, reason);
      },
      stopping,
      events,
    });
    this.drain = new Drain(
      {
        setDraining: (on) => this.setDraining(on),
        callsInProgress: () => calls.active().filter(taken).length,
        onCallChange: (listener) => calls.onChange(listener),
        hangupAll: async (reason) => void (await Promise.all(calls.active().filter(taken).map((c) => lifecycle.hangup(c.id, reason)))),
      },
      (config.drainTimeoutS ?? 300) * 1000,
      log.child({ part: "drain" }),
      metrics.draining,
    );
    this.link.on("event", (e) => this.onPageEvent(e));
    this.webhooks = new WebhookReceiver(config.webhook.verificationToken ?? randomUUID().replace(/-/g, ""), (e, uuid) => this.onTelephonyEvent(e, uuid), log.child({ part: "webhooks" }));
    if (clustered) {
      // Two registrations with one instanceId take each other's calls: the host that lost its lease steps back.
      this.cluster.onLeaseLost(() => void this.phone.unregister());
      // Each delivery is handled once, by every host: the call rings on all of them, and the claims decide.
      this.cluster.onEvent((e) => this.answering.onTelephonyEvent(e));
      if (config.webhook.publicUrl) this.sharedSubscription = new SharedSubscription(this.cluster, () => this.subscriptionKeeper(), log.child({ part: "subscription" }));
    }
  }

  status(): HostStatus {
    return { ...this.phone.status, calls: this.calls.active().length, cluster: this.cluster.status(), draining: this.drain.status() };
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

  /** When each step of the last start ended (logged with "host: ready"; the bench reads it). */
  startupTimeline: StartupTimeline | undefined;

  async start(): Promise<void> {
    const timeline = (this.startupTimeline = new StartupTimeline());
    // First of all: what a previous run left goes out while this one starts.
    await this.eventsOut?.start();
    // First: a Redis that cannot be reached ends the start at once (never two hosts answering one call).
    await this.cluster.connect();
    // Chrome, the page and its audio graph need nothing from RingCentral: they come up while it
    // logs in and provisions (and, in a cluster, while an instance lease is awaited).
    // The link serves the bundle while it builds: Chrome need not wait for it to start.
    const bundle = buildPage().then((b) => (timeline.mark("bundle"), b));
    // Chrome starts once the link listens, while esbuild still runs; a failed build is this
    // start's error (linkUp below; the page's script requests get a 500).
    const listening = this.link.listen(bundle);
    const linkUp = listening.then(() => bundle);
    const pageUp = listening.then(() => this.phone.prepare(timeline));
    // Both are awaited below; a failure while RingCentral is busy must not surface as unhandled.
    linkUp.catch(() => {});
    pageUp.catch(() => {});
    let provisioned;
    try {
      // A RingCentral outage delays the start (each retry is logged with its wait); only a definitive refusal ends it.
      await this.rc.login();
    } catch (err) {
      if (this.stopping) return; // stopped while waiting for RingCentral
      throw new Error(describeRcError(err, this.config.ringcentral.serverUrl));
    }
    timeline.mark("login");
    await this.cluster.join(this.rc.extension!.extensionId, this.actions.member(this.cluster.hostId));
    // In a cluster, registration waits for one of the extension's 5 instance leases (unready meanwhile).
    const leased = await this.cluster.leaseInstance(this.stopped.signal).catch((err: Error) => {
      if (this.stopping) return undefined;
      throw err;
    });
    if (this.stopping) return;
    this.rc.leasedInstanceId = leased;
    try {
      provisioned = await this.rc.provision();
    } catch (err) {
      if (this.stopping) return;
      throw new Error(describeRcError(err, this.config.ringcentral.serverUrl));
    }
    timeline.mark("provision");
    this.phone.expectRegistration();
    await linkUp;
    // A page that failed to come up is brought up again by start(), whose error then ends the start.
    await pageUp.catch(() => {});
    if (this.stopping) return;
    await this.phone.start(provisioned, timeline);
    if (this.config.webhook.publicUrl && this.cluster.mode === "local") {
      this.subscription = this.subscriptionKeeper();
      try {
        await this.subscription.start();
      } catch (err) {
        if (this.stopping) return;
        throw new Error(describeRcError(err, this.config.ringcentral.serverUrl));
      }
      timeline.mark("subscription");
    }
    this.log.info({ startupMs: timeline.elapsedMs, timelineMs: timeline, deviceId: provisioned.deviceId }, "host: ready");
  }

  /**
   * Hang up every call this host took, unregister, close Chrome: in that order, so RingCentral sees
   * clean ends. Calls only ringing here are left alone (never declined: in a cluster a decline ends
   * the call for every host); the un-REGISTER takes this instance out of their ringing.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.stopped.abort();
    this.answering.stop();
    this.log.info({ calls: this.calls.active().length }, "host: stopping");
    await this.subscription?.stop();
    await this.sharedSubscription?.stop();
    await Promise.all(this.calls.active().filter(taken).map((c) => this.lifecycle.hangup(c.id, "shutdown")));
    // Calls whose end the page has not reported yet are ended here, so their recordings close.
    this.lifecycle.finishAll("shutdown");
    await this.phone.unregister();
    await this.lifecycle.flush();
    await this.phone.close();
    await this.link.close();
    // After the calls' last records and the un-REGISTER: the lease is free for another host at once.
    await this.cluster.stop();
    await this.rc.logout();
    // Last: the calls' ends, their recordings and the un-REGISTER are all spooled by now.
    await this.eventsOut?.stop();
    this.log.info("host: stopped");
  }

  /** The drain's input: while set, this host takes no new call (each rings on for another host); calls in progress go on. */
  setDraining(on: boolean): void {
    if (this.draining !== on) this.log.info({ draining: on }, on ? "host: draining, taking no new call" : "host: taking calls again");
    this.draining = on;
  }

  // ── what the API does to calls ────────────────────────────────────────────────

  /** GET /calls: this host's calls, or in a cluster every host's. */
  listCalls(): Promise<{ records: Record<string, unknown>[]; partial?: string }> {
    return this.actions.list();
  }

  viewCall(callId: string): Promise<Record<string, unknown> | undefined> {
    return this.actions.view(callId);
  }

  /** A call action from the API, done here or by the host that owns the call; resolves with the call's view. */
  act(callId: string, action: CallAction): Promise<Record<string, unknown>> {
    return this.actions.act(callId, action);
  }

  /** The Twilio route's callSid → a call id, here or in the cluster. */
  callIdFor(callSid: string): Promise<string | undefined> {
    return this.actions.callIdFor(callSid);
  }

  placeCall(to: string, from?: string, opts?: PlaceCallOptions): Promise<Call> {
    if (this.draining) return Promise.reject(statusError(503, "this host is draining (shutting down): it places no new call; send the request to another host"));
    // Chrome restarting or SIP reconnecting: a temporary state the caller should retry, not a 500.
    const { chrome, registered } = this.phone.status;
    if (!chrome || !registered) return Promise.reject(statusError(503, `the phone is not ready (${!chrome ? "Chrome is not running" : "not registered with RingCentral"}): it places no call now; retry shortly or send the request to another host`));
    const profile = this.config.pipeline.profile;
    // A protocol with its own home sends its key there: never to a URL from a request.
    if (opts?.pipelineUrl && protocolNamed(profile.protocol)?.urlSetting) return Promise.reject(statusError(400, `pipelineUrl does not apply with PIPELINE_PROTOCOL=${profile.protocol}: its URL is ${protocolNamed(profile.protocol)!.urlSetting}`));
    const checked = profileWith(profile, opts?.pipelineSettings);
    if (Array.isArray(checked)) return Promise.reject(statusError(400, `pipelineSettings: ${checked.join("; ")}`));
    return this.outbound.placeCall(to, from, opts);
  }

  // A pipeline's tool calls use act() above: the REST API's own path.

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

  /** A telephony/sessions event from RingCentral's webhook (deduplicated by the receiver; in a cluster, across hosts too). */
  onTelephonyEvent(event: TelephonyEvent, uuid?: string): void {
    this.metrics.webhookEvents.inc();
    if (this.cluster.mode === "redis" && uuid) void this.cluster.shareEvent(uuid, event);
    else this.answering.onTelephonyEvent(event);
  }

  private subscriptionKeeper(): SubscriptionKeeper {
    const { publicUrl, subscriptionExpiresS } = this.config.webhook;
    return new SubscriptionKeeper(this.rc, `${publicUrl}/webhooks/ringcentral`, this.webhooks.verificationToken, subscriptionExpiresS, this.log.child({ part: "subscription" }), this.metrics.webhookSubscribed);
  }

  private onPageEvent(e: PageEvent): void {
    switch (e.type) {
      case "incoming":
        return void this.answering.onIncoming(e).catch((err) => this.log.error({ err: (err as Error).message }, "call: answering failed"));
      case "answered":
        return this.lifecycle.onAnswered(e);
      case "mediaConnected":
        return this.lifecycle.onMediaConnected(e);
      case "quality":
        return this.lifecycle.onQuality(e);
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

  /** Call Control answer: RingCentral moves a call ringing elsewhere to this host's device. Retried until `signal` (the ring window) ends. */
  private async fetchCall(telephonySessionId: string, partyId: string, signal: AbortSignal): Promise<void> {
    try {
      const url = `/restapi/v1.0/account/~/telephony/sessions/${telephonySessionId}/parties/${partyId}/answer`;
      await this.rc.request("call-control-answer", "POST", url, { deviceId: this.phone.deviceId }, { signal });
    } catch (err) {
      throw new Error(describeRcError(err, this.config.ringcentral.serverUrl));
    }
    this.log.info({ telephonySessionId, partyId }, "call control: answer requested for this device");
  }
}

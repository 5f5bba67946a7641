import { randomUUID } from "node:crypto";
import type { Browser, Page } from "puppeteer";
import type { Logger } from "pino";
import { buildPage } from "../browser/build.ts";
import { PageLink } from "../bridge/page-link.ts";
import type { PageEvent, PreferredCodec } from "../bridge/page-protocol.ts";
import { profileSampleRate, profileWantsPcmu, type PipelineProfile } from "../bridge/pipeline/index.ts";
import { loadApology } from "./announcement.ts";
import { CallStream } from "../bridge/stream.ts";
import { CallRecorder } from "../bridge/call-recorder.ts";
import { detectCallee, type AmdRequest } from "./amd-gate.ts";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { CallRegistry, type Call } from "./calls.ts";
import { launchChrome } from "./chrome.ts";
import type { Config } from "./config.ts";
import { RingCentral, describeRcError, type Provisioned } from "./ringcentral.ts";
import { AnswerRules } from "./answer-rules.ts";
import { Metrics } from "./metrics.ts";
import { SubscriptionKeeper } from "./subscription.ts";
import { WebhookReceiver, type TelephonyEvent } from "./webhooks.ts";
import { WebhookAnswering } from "./webhook-answering.ts";

/** A pipeline may queue this much audio ahead of real time (TTS often sends whole replies at once). */
const MAX_PLAYOUT_QUEUE_MS = 120_000;
const REGISTER_TIMEOUT_MS = 15_000;

export interface PlaceCallOptions {
  pipelineUrl?: string;
  customParameters?: Record<string, string>;
  amd?: AmdRequest;
}

export interface HostStatus {
  chrome: boolean;
  registered: boolean;
  calls: number;
}

/**
 * The host: owns all state and decisions. It logs in, provisions, launches Chrome with the page,
 * registers, answers calls, and gives each answered call a stream to the pipeline.
 */
export class Host {
  readonly calls: CallRegistry;
  private readonly rc: RingCentral;
  private link: PageLink | undefined;
  private browser: Browser | undefined;
  private page: Page | undefined;
  private provisioned: Provisioned | undefined;
  private registered = false;
  private stopping = false;
  private readonly profile: PipelineProfile;
  private readonly waiters = new Map<string, (e: PageEvent) => void>();
  private readonly apology: Int16Array;
  private readonly rules: AnswerRules;
  readonly webhooks: WebhookReceiver;
  readonly metrics = new Metrics();
  private subscription: SubscriptionKeeper | undefined;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    this.calls = new CallRegistry(config.answer.maxConcurrentCalls);
    this.rc = new RingCentral(config.ringcentral, config.sipInfoCachePath, log.child({ part: "ringcentral" }));
    const p = config.pipeline;
    this.profile = p.protocol === "l16" ? { protocol: "l16", sampleRate: p.l16SampleRate } : { protocol: "twilio", audio: p.audio as Extract<PipelineProfile, { protocol: "twilio" }>["audio"] };
    this.apology = loadApology(profileSampleRate(this.profile));
    this.rules = new AnswerRules(config.answer);
    this.webhookAnswering = new WebhookAnswering(
      {
        extensionId: () => this.rc.extension?.extensionId,
        callFor: (id) => this.calls.byTelephonySession(id),
        busyCalls: () => this.busyCalls(),
        answer: (call) => this.answer(call),
        refuse: (call, reason) => this.refuse(call, reason),
        fetch: async (telephonySessionId, partyId) => {
          try {
            await this.rc.platform.post(`/restapi/v1.0/account/~/telephony/sessions/${telephonySessionId}/parties/${partyId}/answer`, { deviceId: this.provisioned!.deviceId });
          } catch (err) {
            throw new Error(describeRcError(err, this.config.ringcentral.serverUrl));
          }
          this.log.info({ telephonySessionId, partyId }, "call control: answer requested for this device");
        },
        stopping: () => this.stopping,
      },
      this.rules,
      this.log.child({ part: "answering" }),
    );

    this.webhooks = new WebhookReceiver(config.webhook.verificationToken ?? randomUUID().replace(/-/g, ""), (e) => this.onTelephonyEvent(e), log.child({ part: "webhooks" }));
  }

  status(): HostStatus {
    return { chrome: Boolean(this.browser?.connected), registered: this.registered, calls: this.calls.active().length };
  }

  /** Call sessions alive in the page (diagnostics and tests: 0 once every call has ended). */
  async pageSessionCount(): Promise<number> {
    return (await this.page?.evaluate(() => (window as unknown as { phone: { sessionCount(): number } }).phone.sessionCount())) ?? 0;
  }

  /** Chrome's process (diagnostics and the recovery test). */
  browserProcess() {
    return this.browser?.process() ?? undefined;
  }

  get deviceId(): string | undefined {
    return this.provisioned?.deviceId;
  }

  async start(): Promise<void> {
    const t0 = performance.now();
    try {
      await this.rc.login();
      this.provisioned = await this.rc.provision();
    } catch (err) {
      throw new Error(describeRcError(err, this.config.ringcentral.serverUrl));
    }
    const bundle = await buildPage();
    this.link = new PageLink(bundle, this.log.child({ part: "page-link" }));
    await this.link.listen();
    this.link.on("event", (e) => this.onPageEvent(e));
    this.link.on("disconnected", () => this.onPageLost("page link closed"));
    await this.launchPage();
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
    this.log.info({ startupMs: Math.round(performance.now() - t0), deviceId: this.provisioned.deviceId }, "host: ready");
  }

  /** Chrome, the page, its audio graph, and the registration. Run at start and after a crash. */
  private async launchPage(): Promise<void> {
    const browser = await launchChrome({
      executablePath: this.config.chrome.executablePath,
      headless: this.config.chrome.headless,
      insecureTls: this.config.ringcentral.insecureSipTls,
    });
    this.browser = browser;
    this.log.info({ headless: this.config.chrome.headless, version: await browser.version() }, "chrome: launched");
    browser.on("disconnected", () => {
      if (this.browser === browser) this.onPageLost("chrome exited");
    });
    await browser.defaultBrowserContext().overridePermissions(this.link!.origin, ["microphone"]);
    this.page = await browser.newPage();
    this.page.on("pageerror", (err) => this.log.error({ err: (err as Error).message }, "page: uncaught error"));
    this.page.on("error", (err) => this.onPageLost(`page crashed: ${err.message}`));
    await this.page.goto(this.link!.pageUrl);
    await this.configurePage();
    await this.register();
  }

  /** Once the page's control link is up: build its audio graph at the pipeline's rate. */
  private async configurePage(): Promise<void> {
    await this.waitControl();
    const ready = this.waitFor(["ready"], 15_000, "the page's audio graph to start");
    this.link!.send({ type: "configure", sampleRate: profileSampleRate(this.profile), slots: this.calls.slots, preferCodec: this.preferredCodec() });
    await ready;
  }

  private recovering = false;
  private reloading = false;

  /**
   * Chrome or the page went away: its calls are gone with it (their media lived there), so they
   * are ended and their recordings closed; then Chrome is relaunched and the phone re-registered,
   * retrying with backoff until it works or the host stops.
   */
  private onPageLost(why: string): void {
    if (this.stopping || this.recovering || this.reloading) return;
    this.recovering = true;
    this.registered = false;
    this.metrics.registered.set(0);
    this.metrics.pageRecoveries.inc();
    this.log.error({ why, calls: this.calls.active().length }, "page: lost; ending its calls and relaunching Chrome");
    for (const call of this.calls.active()) this.finish(call, "page-lost");
    void (async () => {
      for (let attempt = 1; !this.stopping; attempt++) {
        const old = this.browser;
        this.browser = undefined;
        await old?.close().catch(() => {});
        try {
          await this.launchPage();
          this.log.info({ attempt }, "page: recovered");
          break;
        } catch (err) {
          const waitMs = Math.min(30_000, 1000 * 2 ** (attempt - 1));
          this.log.error({ attempt, waitMs, err: (err as Error).message }, "page: relaunch failed, retrying");
          await new Promise((r) => setTimeout(r, waitMs));
        }
      }
      this.recovering = false;
    })();
  }

  /** An 8 kHz μ-law pipeline gets PCMU from RingCentral: no Opus, no transcoding. */
  private preferredCodec(): PreferredCodec {
    return profileWantsPcmu(this.profile) ? "PCMU" : "opus";
  }

  private async register(): Promise<void> {
    const attempt = async (p: Provisioned) => {
      const result = this.waitFor(["registered", "registrationFailed"], REGISTER_TIMEOUT_MS, "SIP registration");
      this.link!.send({ type: "register", sipInfo: p.sipInfo, instanceId: p.instanceId });
      const e = await result;
      if (e.type === "registrationFailed") throw new Error(e.error);
    };
    try {
      await attempt(this.provisioned!);
    } catch (err) {
      if (!this.provisioned!.cached) throw err;
      // A cached sipInfo can go stale (password rotated, device removed): provision afresh once.
      this.log.warn({ err: (err as Error).message }, "sip: cached sipInfo failed, provisioning afresh");
      this.provisioned = await this.rc.provision({ fresh: true });
      // The reload closes the page link on purpose: not a crash to recover from.
      this.reloading = true;
      await this.page!.reload().finally(() => (this.reloading = false));
      await this.configurePage();
      await attempt(this.provisioned);
    }
    this.registered = true;
    this.metrics.registered.set(1);
    this.log.info({ cachedSipInfo: this.provisioned!.cached }, "sip: registered");
  }

  private waitControl(): Promise<void> {
    return withTimeout(this.link!.whenConnected(), 15_000, "the page did not connect to the host");
  }

  /** The next page event of these types (and matching `where`); rejects after timeoutMs. */
  private waitFor<T extends PageEvent["type"]>(
    types: T[],
    timeoutMs: number,
    what: string,
    where: (e: Extract<PageEvent, { type: T }>) => boolean = () => true,
  ): Promise<Extract<PageEvent, { type: T }>> {
    return new Promise((resolve, reject) => {
      const key = randomUUID();
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.set(key, (e) => {
        if (!(types as string[]).includes(e.type) || !where(e as Extract<PageEvent, { type: T }>)) return;
        this.waiters.delete(key);
        clearTimeout(timer);
        resolve(e as Extract<PageEvent, { type: T }>);
      });
    });
  }


  // ── page events ───────────────────────────────────────────────────────────────

  private onPageEvent(e: PageEvent): void {
    for (const w of [...this.waiters.values()]) w(e);
    switch (e.type) {
      case "incoming":
        return void this.onIncoming(e).catch((err) => this.log.error({ err: (err as Error).message }, "call: answering failed"));
      case "outgoing":
        return;
      case "answered": {
        const call = this.calls.bySipCallId(e.callId);
        if (!call) return;
        call.state = "answered";
        call.answeredAtMs = Date.now();
        call.codec = e.codec;
        call.telephonySessionId ??= e.telephonySessionId;
        call.partyId ??= e.partyId;
        this.log.info({ call: call.id, codec: e.codec, telephonySessionId: call.telephonySessionId }, "call: answered");
        this.metrics.callsAnswered.inc({ direction: call.direction });
        this.metrics.callsActive.set(this.calls.active().length);
        void this.startRecording(call);
        return;
      }
      case "mediaConnected": {
        const call = this.calls.bySipCallId(e.callId);
        if (!call) return;
        call.mediaConnectedAtMs = Date.now();
        call.stream?.mediaConnected();
        if (call.answeredAtMs) this.metrics.mediaConnectMs.observe(call.mediaConnectedAtMs - call.answeredAtMs);
        this.log.info({ call: call.id, afterAnswerMs: call.answeredAtMs ? call.mediaConnectedAtMs - call.answeredAtMs : null }, "call: media connected");
        return;
      }
      case "ended": {
        const call = this.calls.bySipCallId(e.callId);
        if (call) this.finish(call, e.by === "local" ? "host-hangup" : e.by === "failed" ? "failed" : "remote-hangup");
        return;
      }
      case "log":
        this.log[e.level]({ call: e.callId, from: "page" }, e.msg);
        return;
      case "registrationFailed":
        this.registered = false;
        this.log.error({ error: e.error }, "sip: registration failed");
        return;
      default:
        return;
    }
  }

  private async onIncoming(e: Extract<PageEvent, { type: "incoming" }>): Promise<void> {
    const call = this.calls.add({
      sipCallId: e.callId,
      direction: "inbound",
      from: e.from,
      fromName: e.fromName,
      to: e.to,
      telephonySessionId: e.telephonySessionId,
      partyId: e.partyId,
    });
    this.log.info({ call: call.id, from: e.from, to: e.to, telephonySessionId: e.telephonySessionId, partyId: e.partyId, autoAnswer: e.autoAnswer }, "call: ringing");
    if (this.config.answer.mode === "webhook") {
      // The webhook decides; it may have already (then the call was approved, or fetched here by Call Control).
      const decision = this.webhookAnswering.decision(call.telephonySessionId);
      if (decision?.approved) await this.answer(call);
      else if (decision) await this.refuse(call, decision.reason);
      return;
    }
    const verdict = this.rules.check(call.from, this.busyCalls());
    if (!verdict.answer) return this.refuse(call, verdict.reason);
    await this.answer(call);
  }

  // ── webhook answering ─────────────────────────────────────────────────────────

  /** A telephony/sessions event (deduplicated by the receiver). */
  onTelephonyEvent(event: TelephonyEvent): void {
    this.metrics.webhookEvents.inc();
    if (this.config.answer.mode === "webhook") this.webhookAnswering.onEvent(event);
  }

  private readonly webhookAnswering: WebhookAnswering;

  private busyCalls(): number {
    return this.calls.active().filter((c) => c.state !== "ringing").length;
  }

  private async refuse(call: Call, reason: string): Promise<void> {
    this.log.info({ call: call.id, from: call.from, reason, action: this.config.answer.refusedAction }, "call: refused by the rules");
    call.endReason = `refused: ${reason}`;
    if (this.config.answer.refusedAction === "decline") await this.link!.request({ type: "decline", callId: call.sipCallId }).catch(() => {});
  }

  /** Dials the pipeline first, so a pipeline that is down never leaves a caller in dead air. */
  async answer(call: Call): Promise<void> {
    if (this.stopping) return;
    const slot = this.calls.takeSlot();
    if (slot === undefined) {
      this.log.warn({ call: call.id, max: this.calls.slots }, "call: at MAX_CONCURRENT_CALLS, declining");
      await this.link!.request({ type: "decline", callId: call.sipCallId }).catch(() => {});
      this.calls.end(call, "capacity");
      return;
    }
    call.slot = slot;
    call.state = "answering";
    this.rules.taken();
    const stream = this.newStream(call, slot);
    call.stream = stream;
    try {
      await stream.open(this.streamInfo(call));
    } catch (err) {
      await this.onPipelineDown(call, (err as Error).message);
      return;
    }
    await this.link!.request({ type: "answer", callId: call.sipCallId, slot });
  }

  /** PIPELINE_DOWN_ACTION: apologise and hang up, or leave the call ringing for someone else. */
  private async onPipelineDown(call: Call, why: string): Promise<void> {
    const action = this.config.pipeline.downAction;
    this.metrics.pipelineFailures.inc({ kind: "unreachable" });
    this.log.error({ call: call.id, err: why, action }, "pipeline: unreachable as the call arrives");
    if (action === "ring") {
      call.stream?.close("pipeline-unreachable");
      call.stream = undefined;
      this.calls.releaseSlot(call);
      call.state = "ringing";
      call.endReason = "pipeline-unreachable";
      return;
    }
    call.endReason = "pipeline-unreachable";
    await this.link!.request({ type: "answer", callId: call.sipCallId, slot: call.slot! });
    // Resolves once played, which needs media up: bounded in case it never comes.
    const apologyMs = (this.apology.length * 1000) / profileSampleRate(this.profile);
    await withTimeout(call.stream!.announce(this.apology), apologyMs + 10_000, "apology not played").catch(() => {});
    await this.hangup(call.id, "pipeline-unreachable");
  }

  /** Hold, unhold, mute, unmute, or RingCentral's own recording, on an answered call. */
  async control(callId: string, verb: "hold" | "unhold" | "mute" | "unmute" | "recording", action?: "start" | "stop"): Promise<void> {
    const call = this.answeredCall(callId);
    if (verb === "recording") await this.link!.request({ type: "recording", callId: call.sipCallId, action: action ?? "start" });
    else await this.link!.request({ type: verb, callId: call.sipCallId });
    this.log.info({ call: call.id, verb, action }, "call: control");
  }

  /**
   * Blind (REFER) or warm (hold, consult, join) transfer. The pipeline gets its stop first, so it
   * stops talking over the handover; if RingCentral refuses the transfer, the caller is not left
   * in silence: a fresh stream to the pipeline takes the call back.
   */
  async transfer(callId: string, target: string, mode: "blind" | "warm"): Promise<void> {
    const call = this.answeredCall(callId);
    this.log.info({ call: call.id, target, mode }, "call: transferring");
    call.endReason = `transferred-${mode}`;
    const stream = call.stream;
    call.streamStats = stream?.stats;
    call.stream = undefined;
    if (stream) void this.keepRecording(call, stream.close(`transferred-${mode}`));
    try {
      await this.link!.request({ type: "transfer", callId: call.sipCallId, target, mode }, 60_000);
      call.transferTarget = target;
    } catch (err) {
      this.log.error({ call: call.id, target, err: (err as Error).message }, "call: transfer failed; the pipeline takes the call back");
      call.endReason = undefined;
      if (mode === "warm") await this.link!.request({ type: "unhold", callId: call.sipCallId }).catch(() => {});
      if (call.state === "answered" && call.slot !== undefined) {
        const again = this.newStream(call, call.slot);
        call.stream = again;
        await again.open(this.streamInfo(call)).then(
          () => again.mediaConnected(),
          (e: Error) => this.hangup(call.id, `transfer-failed: ${e.message}`),
        );
      }
      throw Object.assign(new Error(`transfer to ${target} failed: ${(err as Error).message}`), { status: 502 });
    }
  }

  private answeredCall(callId: string): Call {
    const call = this.calls.get(callId);
    if (!call) throw Object.assign(new Error(`no call ${callId}`), { status: 404 });
    if (call.state !== "answered") throw Object.assign(new Error(`call ${callId} is ${call.state}, not answered`), { status: 409 });
    return call;
  }

  async sendDtmf(callId: string, digits: string): Promise<void> {
    const call = this.answeredCall(callId);
    await this.link!.request({ type: "dtmf", callId: call.sipCallId, digits });
    this.log.info({ call: call.id, digits: digits.length }, "dtmf: sent to the caller");
  }

  private newStream(call: Call, slot: number): CallStream {
    return new CallStream(
      this.link!,
      slot,
      {
        profile: this.profile,
        url: call.pipelineUrl ?? this.config.pipeline.url,
        connectTimeoutMs: this.config.pipeline.connectTimeoutMs,
        playoutLeadMs: this.config.pipeline.playoutLeadMs,
        maxQueueMs: MAX_PLAYOUT_QUEUE_MS,
        reconnect: this.config.pipeline.dropAction === "reconnect",
      },
      {
        onEnd: (reason) => void this.hangup(call.id, reason),
        onSendDtmf: (digits) => void this.sendDtmf(call.id, digits).catch((err) => this.log.warn({ call: call.id, err: (err as Error).message }, "dtmf: could not send")),
      },
      this.log.child({ call: call.id, part: "stream" }),
    );
  }

  private streamInfo(call: Call) {
    const ext = this.rc.extension!;
    return {
      callSid: call.telephonySessionId ?? call.id,
      accountId: ext.accountId,
      from: call.from,
      to: call.to,
      direction: call.direction,
      telephonySessionId: call.telephonySessionId,
      partyId: call.partyId,
      customParameters: {
        from: call.from,
        to: call.to,
        direction: call.direction,
        telephonySessionId: call.telephonySessionId ?? "",
        partyId: call.partyId ?? "",
        callId: call.id,
        // The names Pipecat's runner reads for the caller and callee.
        from_number: call.from,
        to_number: call.to,
        ...call.customParameters,
      },
    };
  }

  /** Places a call from this host's extension; the pipeline is dialled once the callee answers. */
  async placeCall(to: string, from?: string, opts: PlaceCallOptions = {}): Promise<Call> {
    const slot = this.calls.takeSlot();
    if (slot === undefined) throw Object.assign(new Error(`at MAX_CONCURRENT_CALLS (${this.calls.slots})`), { status: 409 });
    // Matched by request id: concurrent calls from the API must not take each other's Call-ID.
    const requestId = this.link!.newRequestId();
    const outgoing = this.waitFor(["outgoing"], 60_000, "the page to start the call", (e) => e.requestId === requestId);
    const result = this.link!.request({ type: "call", to, from, slot }, 60_000, requestId);
    outgoing.catch(() => {}); // raced below; a late rejection is no error
    const e = await Promise.race([outgoing, result.then(() => undefined)]).catch((err: Error) => err);
    if (!e || e instanceof Error) {
      this.calls.returnSlot(slot);
      throw new Error(`the page did not start the call${e instanceof Error ? `: ${e.message}` : ""}`);
    }
    const call = this.calls.add({ sipCallId: e.callId, direction: "outbound", from: from ?? this.rc.extension?.extensionNumber ?? "", to, slot, pipelineUrl: opts.pipelineUrl, customParameters: opts.customParameters });
    this.log.info({ call: call.id, to, amd: opts.amd?.mode }, "call: dialling");
    const stream = this.newStream(call, slot);
    call.stream = stream;
    const answered = this.waitFor(["answered"], 65_000, "the page to report the answer", (e) => e.callId === call.sipCallId);
    answered.catch(() => {}); // awaited below only if the call itself succeeds
    try {
      await result;
      // The page reports `answered` (with codec and RingCentral ids) just after the call resolves.
      if (call.state !== "answered") await answered;
    } catch (err) {
      // Not answered in time, or refused: make sure nothing keeps ringing on RingCentral's side.
      await this.link!.request({ type: "hangup", callId: call.sipCallId }, 5000).catch(() => {});
      this.finish(call, "failed");
      throw err;
    }
    // The pipeline joins once the callee is known to be a person (or a machine's beep has sounded).
    void this.connectOutbound(call, stream, opts.amd).catch((err) => {
      this.log.error({ call: call.id, err: (err as Error).message }, "pipeline: unreachable, hanging up");
      void this.hangup(call.id, "pipeline-unreachable");
    });
    return call;
  }

  /**
   * RingCentral answers an outbound call at once, so SIP cannot tell a person from voicemail:
   * with `amd`, the callee's first seconds of audio decide (bridge/amd.ts) before the pipeline
   * is dialled, and the result goes to the pipeline in customParameters.amd.
   */
  private async connectOutbound(call: Call, stream: CallStream, amd: PlaceCallOptions["amd"]): Promise<void> {
    if (amd) {
      const verdict = await detectCallee(stream, profileSampleRate(this.profile), amd, (v) => {
        call.amd = { result: v.result, reason: v.reason, atMs: v.atMs };
        this.log.info({ call: call.id, ...call.amd }, "amd: decided");
      });
      if (verdict.beepAtMs !== undefined) this.log.info({ call: call.id, atMs: verdict.beepAtMs }, "amd: beep heard, leaving the message");
      if (call.state === "ended") return;
      if (verdict.result === "machine" && amd.mode === "human-only") {
        await this.hangup(call.id, "amd-machine");
        return;
      }
      call.customParameters = { ...call.customParameters, amd: verdict.result, ...(verdict.beepAtMs !== undefined && { amdBeep: "true" }) };
    }
    if (call.state === "ended") return;
    await stream.open(this.streamInfo(call));
    if (call.mediaConnectedAtMs) stream.mediaConnected();
  }


  async hangup(callId: string, reason = "host-hangup"): Promise<void> {
    const call = this.calls.get(callId);
    if (!call || call.state === "ended") return;
    this.log.info({ call: call.id, reason }, "call: hanging up");
    call.endReason ??= reason;
    try {
      await this.link!.request({ type: "hangup", callId: call.sipCallId }, 5000);
    } catch (err) {
      this.log.warn({ call: call.id, err: (err as Error).message }, "call: hangup not confirmed by the page");
      this.finish(call, reason);
    }
  }

  private finish(call: Call, reason: string): void {
    // A reason the host set on purpose (transfer, refusal, pipeline gone) outlives how the page saw the end.
    const why = call.endReason ?? reason;
    const stream = call.stream;
    call.streamStats = stream?.stats;
    call.stream = undefined;
    if (stream) this.keepRecording(call, stream.close(why));
    if (this.calls.end(call, why)) {
      this.metrics.callsEnded.inc({ direction: call.direction, reason: why.replace(/:.*$/, "") });
      this.metrics.callsActive.set(this.calls.active().length);
      if (call.streamStats) {
        this.metrics.underruns.inc(call.streamStats.underruns);
        this.metrics.pipelineBadMessages.inc(call.streamStats.badMessages);
      }
      this.log.info({ call: call.id, reason: why, durationMs: call.answeredAtMs ? Date.now() - call.answeredAtMs : 0, stream: call.streamStats }, "call: ended");
    }
  }

  /** Notes where a closing stream's recording went; shutdown waits for it. */
  private keepRecording(call: Call, closing: Promise<{ path: string; durationMs: number } | undefined>): void {
    const saved = closing.then((rec) => {
      if (!rec) return;
      call.recording = rec;
      this.log.info({ call: call.id, path: rec.path, durationMs: rec.durationMs }, "recording: saved");
    });
    this.pendingWrites.add(saved);
    void saved.finally(() => this.pendingWrites.delete(saved));
  }

  /** Recordings still being written: shutdown waits for them, so none is lost. */
  private readonly pendingWrites = new Set<Promise<void>>();

  /** Starts recording both sides of an answered call when RECORDINGS_DIR is set. */
  private async startRecording(call: Call): Promise<void> {
    const dir = this.config.recordingsDir;
    if (!dir || !call.stream) return;
    try {
      await mkdir(dir, { recursive: true });
      const stamp = new Date(call.createdAtMs).toISOString().replace(/[:.]/g, "-");
      const name = `${stamp}_${(call.telephonySessionId ?? call.id).replace(/[^\w.-]/g, "_")}.wav`;
      const recorder = await CallRecorder.create(join(dir, name), profileSampleRate(this.profile), this.log.child({ call: call.id }));
      if (call.stream) call.stream.record(recorder);
      else await recorder.close();
    } catch (err) {
      this.log.error({ call: call.id, err: (err as Error).message }, "recording: could not start; the call goes on unrecorded");
    }
  }

  /** Hang up every call, unregister, close Chrome: in that order, so RingCentral sees clean ends. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info({ calls: this.calls.active().length }, "host: stopping");
    await this.subscription?.stop();
    await Promise.all(this.calls.active().map((c) => this.hangup(c.id, "shutdown")));
    // Calls whose end the page has not reported yet are ended here, so their recordings close.
    for (const c of this.calls.active()) this.finish(c, "shutdown");
    if (this.registered && this.link) await this.link.request({ type: "unregister" }, 3000).catch(() => {});
    this.registered = false;
    await Promise.all(this.pendingWrites);
    await this.browser?.close().catch(() => {});
    await this.link?.close();
    await this.rc.logout();
    this.log.info("host: stopped");
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(message)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

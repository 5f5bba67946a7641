import type { Browser, Page } from "puppeteer";
import type { Logger } from "pino";
import type { PageLink } from "../bridge/page-link.ts";
import { sipStatusOf, type GraphSettings, type PreferredCodec, type UplinkMode } from "../bridge/page-protocol.ts";
import { retryWaitMs } from "./backoff.ts";
import { launchChrome } from "./chrome.ts";
import type { Config } from "./config.ts";
import type { EventSink } from "./events.ts";
import type { Metrics } from "./metrics.ts";
import type { Provisioned, RingCentral } from "./ringcentral.ts";
import type { StartupTimeline } from "./startup-timeline.ts";
import { SipRecovery, TOO_MANY_INSTANCES, TOO_MANY_INSTANCES_WAIT_MS, refusalOf, SIP_BACKOFF, type SipState } from "./sip-recovery.ts";

const CONNECT_TIMEOUT_MS = 15_000;
const READY_TIMEOUT_MS = 15_000;
const REGISTER_TIMEOUT_MS = 15_000;
const UNREGISTER_TIMEOUT_MS = 3000;
const RELAUNCH_MAX_WAIT_MS = 30_000;
/** The heartbeat: a page that does not answer a ping within PING_TIMEOUT_MS is hung (≤ 5 s to notice). */
const PING_EVERY_MS = 1500;
const PING_TIMEOUT_MS = 3000;
/** A hung renderer may not let Chrome close politely. */
const CLOSE_TIMEOUT_MS = 5000;

export interface PhonePageOptions {
  config: Pick<Config, "chrome" | "ringcentral">;
  rc: RingCentral;
  link: PageLink;
  metrics: Metrics;
  log: Logger;
  /** The page's audio graph: the pipeline's rate, one audio path per call slot, the codec to pin. */
  sampleRate: number;
  slots: number;
  preferCodec: PreferredCodec;
  uplink: UplinkMode;
  /** Chrome or the page went away: its calls went with it. */
  onLost(why: string): void;
  /** Calls still up, and how to end them when SIP stays down too long. */
  activeCalls(): number;
  endCalls(reason: string): void;
  stopping(): boolean;
  /** registration.changed goes here (EVENTS_URL). */
  events?: EventSink;
}

/**
 * Chrome and the page in it: launch, build the page's audio graph, register the WebPhone (with a
 * fresh sipInfo when the cached one is refused), and relaunch with backoff when Chrome or the
 * page is lost. The one owner of "is the phone up?".
 */
export class PhonePage {
  private browser: Browser | undefined;
  private page: Page | undefined;
  private provisioned: Provisioned | undefined;
  private registered = false;
  /** The page's audio graph, asked for once its control link is up (configure → ready); registration does not wait for it. */
  private audio: Promise<void> | undefined;
  private audioUp = false;
  private configures = 0;
  /** RingCentral has provisioned: the first registration comes next (see expectRegistration()). */
  private registrationNext = false;
  private recovering = false;
  /** A reload closes the page link on purpose: not a crash to recover from. */
  private reloading = false;
  /** Set once the page is up and registered; the heartbeat watches it from then on. */
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly sip: SipRecovery;
  /** The first bring-up, started before RingCentral has provisioned (see prepare()). */
  private preparing: Promise<void> | undefined;

  constructor(private readonly o: PhonePageOptions) {
    o.link.on("disconnected", () => this.lost("page link closed"));
    this.sip = new SipRecovery({
      page: o.link,
      log: o.log,
      metrics: o.metrics,
      hasBackup: () => {
        const s = this.provisioned?.sipInfo;
        return Boolean(s?.outboundProxyBackup && s.outboundProxyBackup !== s.outboundProxy);
      },
      reprovision: async () => {
        this.provisioned = await o.rc.provision({ fresh: true });
        return this.provisioned;
      },
      setRegistered: (on) => this.setRegistered(on),
      activeCalls: o.activeCalls,
      endCalls: o.endCalls,
      stopping: o.stopping,
    });
  }

  /** `audio`: the page's audio graph is built (a call answered before it waits for it). */
  get status(): { chrome: boolean; registered: boolean; audio: boolean; sip: SipState } {
    return { chrome: Boolean(this.browser?.connected), registered: this.registered, audio: this.audioUp, sip: this.sip.state };
  }

  get deviceId(): string | undefined {
    return this.provisioned?.deviceId;
  }

  /** Chrome's process (diagnostics and the recovery test). */
  browserProcess() {
    return this.browser?.process() ?? undefined;
  }

  /** The page itself (diagnostics and the bench: CDP sessions, `phone.stats()`). */
  chromePage(): Page | undefined {
    return this.page;
  }

  /** Call sessions alive in the page (diagnostics and tests: 0 once every call has ended). */
  async sessionCount(): Promise<number> {
    return (await this.page?.evaluate(() => (window as unknown as { phone: { sessionCount(): number } }).phone.sessionCount())) ?? 0;
  }

  /**
   * Chrome and the page (and its audio graph while RingCentral is busy), without registering: none of it
   * needs RingCentral, so the host runs it while it logs in and provisions. start() finishes what this began.
   */
  prepare(timeline?: StartupTimeline): Promise<void> {
    this.preparing = this.bringUp(timeline);
    // start() awaits it; until then a failure must not surface as an unhandled rejection.
    this.preparing.catch(() => {});
    return this.preparing;
  }

  /**
   * First registration, with what RingCentral provisioned, on the page prepare() brought up. It
   * resolves once the phone is registered: the audio graph may still be building (status.audio
   * false until it is; /ready does not wait for it), and a call answered meanwhile waits for it in the page.
   */
  async start(provisioned: Provisioned, timeline?: StartupTimeline): Promise<void> {
    this.provisioned = provisioned;
    const up = await (this.preparing ?? this.prepare(timeline)).then(
      () => Boolean(this.browser?.connected) && this.o.link.controlConnected,
      () => false,
    );
    if (!up) {
      // It failed, or Chrome died while RingCentral was busy: once more, and this time its error ends the start.
      await closeBrowser(this.browser);
      this.browser = undefined;
      await this.bringUp(timeline);
    }
    await this.register();
    timeline?.mark("registered");
    this.startHeartbeat();
    this.configureAfterRegistering(timeline);
    // A graph that fails once the phone takes calls: the page is brought up again, as after a crash.
    const audio = this.audio;
    audio?.catch((err: Error) => {
      if (this.audio === audio) this.lost(`the page's audio graph failed: ${err.message}`);
    });
  }

  /**
   * RingCentral has provisioned and start() follows: a page that connects from now on registers
   * before it builds its audio graph (see configureAfterRegistering()).
   */
  expectRegistration(): void {
    this.registrationNext = true;
  }

  /** The page's answer to `register` was a failure: whoever registers logs it and decides. */
  onRegistrationFailed(): void {
    this.setRegistered(false);
  }

  /** The page's SIP connection or registration is gone (only once it was up: launch handles its own). */
  onSipLost(reason: string, status?: number): void {
    if (this.recovering || this.reloading || !this.heartbeat) return;
    this.sip.lost(reason, status);
  }

  /** Un-REGISTERs, so RingCentral stops ringing this instance at once instead of after expiry. */
  async unregister(): Promise<void> {
    this.stopHeartbeat();
    this.sip.cancel();
    if (this.registered) await this.o.link.request({ type: "unregister" }, UNREGISTER_TIMEOUT_MS).catch(() => {});
    this.setRegistered(false);
  }

  async close(): Promise<void> {
    this.stopHeartbeat();
    this.sip.cancel();
    await closeBrowser(this.browser);
  }

  /** Chrome, the page, its audio graph, and the registration: after a crash. */
  private async launch(): Promise<void> {
    await this.bringUp();
    await this.registerWithAudio();
  }

  /** After a relaunch: registered, then the audio graph; a graph that fails fails the relaunch (which is retried). */
  private async registerWithAudio(): Promise<void> {
    await this.register();
    this.configureAfterRegistering();
    await this.audio;
    this.startHeartbeat();
  }

  /** Chrome and the page (its audio graph too while RingCentral is busy): everything but the registration. */
  private async bringUp(timeline?: StartupTimeline): Promise<void> {
    const { config, link, log } = this.o;
    this.audio = undefined;
    this.audioUp = false;
    const browser = await launchChrome({
      executablePath: config.chrome.executablePath,
      headless: config.chrome.headless,
      insecureTls: config.ringcentral.insecureSipTls,
      ...(config.chrome.debugPort !== undefined && { debugPort: config.chrome.debugPort }),
      startUrl: link.pageUrl,
    });
    // Stopped while Chrome started (a start that failed at login): close() found no Chrome to close.
    if (this.o.stopping()) {
      await closeBrowser(browser);
      throw new Error("stopped while Chrome was starting");
    }
    this.browser = browser;
    timeline?.mark("chrome");
    browser.on("disconnected", () => {
      if (this.browser === browser) this.lost("chrome exited");
    });
    // Before any call: ICE gathers loopback candidates only for an origin with media permission.
    const [version] = await Promise.all([browser.version(), browser.defaultBrowserContext().overridePermissions(link.origin, ["microphone"])]);
    log.info({ headless: config.chrome.headless, version }, "chrome: launched");
    // The first tab opened the page at launch (one renderer, no second tab); it connects when
    // loaded. Puppeteer's page object (a dozen DevTools commands into the renderer) only after
    // that, so it does not compete with the page's script.
    await link.whenConnected(CONNECT_TIMEOUT_MS);
    timeline?.mark("page");
    // RingCentral still busy (a first start's login or sip-provision): the graph meanwhile.
    if (!this.registrationNext && !this.provisioned) this.configure(timeline);
    const [page] = await browser.pages();
    if (!page) throw new Error("Chrome opened no tab");
    this.page = page;
    page.on("pageerror", (err) => log.error({ err: (err as Error).message }, "page: uncaught error"));
    page.on("error", (err) => this.lost(`page crashed: ${err.message}`));
  }

  /**
   * A ping through the page's main thread (a WebSocket ping would be answered by Chrome's network
   * process even with the renderer hung), and a look at the media link, every PING_EVERY_MS.
   */
  private startHeartbeat(): void {
    this.stopHeartbeat();
    let inFlight = false;
    this.heartbeat = setInterval(() => {
      if (inFlight || this.recovering || this.reloading || this.o.stopping()) return;
      // The media link opens with the graph: only a built graph's link is watched.
      if (this.audioUp && !this.o.link.mediaConnected) return this.lost("the page's media link closed");
      inFlight = true;
      this.o.link.request({ type: "ping" }, PING_TIMEOUT_MS).then(
        () => (inFlight = false),
        (err: Error) => {
          inFlight = false;
          this.lost(`the page is not answering: ${err.message}`);
        },
      );
    }, PING_EVERY_MS);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  /**
   * The audio graph once registered, unless it was asked for while RingCentral was busy. Not
   * before: the page's AudioContext blocks its main thread ≈ 0.3 s on the 2-core machine, which
   * would hold up the registration by as much.
   */
  private configureAfterRegistering(timeline?: StartupTimeline): void {
    if (!this.audio) this.configure(timeline);
  }

  private get graphSettings(): GraphSettings {
    const { sampleRate, slots, preferCodec, uplink } = this.o;
    return { sampleRate, slots, preferCodec, uplink };
  }

  /**
   * Once the page's control link is up: its audio graph at the pipeline's rate (the page answers
   * `ready` once built). Sets this.audio: launch() awaits it, start() watches it.
   */
  private configure(timeline?: StartupTimeline): void {
    const { link } = this.o;
    this.audioUp = false;
    const asked = ++this.configures;
    const audio = (async () => {
      await link.whenConnected(CONNECT_TIMEOUT_MS);
      const ready = link.waitFor(["ready"], READY_TIMEOUT_MS, "the page's audio graph to start");
      link.send({ type: "configure", ...this.graphSettings });
      const { buildMs, startedAtMs } = await ready;
      this.o.log.info({ buildMs, startedAtMs }, "page: audio graph ready");
      // Not a graph a reload or a relaunch has replaced since.
      if (asked === this.configures) this.audioUp = true;
      timeline?.mark("audio");
    })();
    // Awaited by whoever registers; until then a failure must not surface as an unhandled rejection.
    audio.catch(() => {});
    this.audio = audio;
  }

  /**
   * The first registration of a launch. A cached sipInfo that fails is replaced by a fresh one
   * (it can go stale: password rotated, device removed). After that, credentials refused are
   * definitive (start-up fails with one line); an outage is retried with backoff, and
   * RingCentral's instance limit (603) slowly, so a SIP outage delays start instead of ending it.
   */
  private async register(): Promise<void> {
    const { rc, log } = this.o;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.registerOnce(this.provisioned!);
        break;
      } catch (err) {
        const message = (err as Error).message;
        const refusal = refusalOf(sipStatusOf(message));
        if (this.provisioned!.cached) {
          log.warn({ err: message }, "sip: cached sipInfo failed, provisioning afresh");
          this.provisioned = await rc.provision({ fresh: true });
          this.reloading = true;
          await this.page!.reload().finally(() => (this.reloading = false));
          // The reloaded page has no graph: it is asked for once registered.
          this.audio = undefined;
          this.audioUp = false;
          await this.o.link.whenConnected(CONNECT_TIMEOUT_MS);
          continue;
        }
        if (refusal === "credentials")
          throw new Error(`RingCentral refuses the SIP credentials it just provisioned (${message}): check that the app has the VoIP Calling permission and the extension may use a WebPhone`);
        if (this.o.stopping()) throw err;
        const waitMs = refusal === "too-many-instances" ? TOO_MANY_INSTANCES_WAIT_MS : retryWaitMs(attempt, undefined, SIP_BACKOFF);
        if (refusal === "too-many-instances") log.error({ attempt, waitMs }, `sip: ${TOO_MANY_INSTANCES}`);
        else log.warn({ attempt, waitMs, err: message }, "sip: registration failed, retrying");
        await new Promise((r) => setTimeout(r, waitMs));
      }
    }
    this.setRegistered(true);
    log.info({ cachedSipInfo: this.provisioned!.cached }, "sip: registered");
  }

  private async registerOnce(p: Provisioned): Promise<void> {
    const { link } = this.o;
    const result = link.waitFor(["registered", "registrationFailed"], REGISTER_TIMEOUT_MS, "SIP registration");
    link.send({ type: "register", sipInfo: p.sipInfo, instanceId: p.instanceId });
    const e = await result;
    if (e.type === "registrationFailed") throw new Error(e.error);
  }

  private setRegistered(on: boolean): void {
    // The one home of "registered": start, SIP recovery, relaunch and stop all come through here.
    if (on !== this.registered) this.o.events?.emit("registration.changed", { registered: on, proxy: this.sip.state.proxy, reconnecting: this.sip.state.reconnecting });
    this.registered = on;
    this.o.metrics.registered.set(on ? 1 : 0);
  }

  /**
   * Chrome or the page went away: its calls are gone with it (their media lived there); then
   * Chrome is relaunched and the phone re-registered, with backoff until it works or the host stops.
   */
  private lost(why: string): void {
    // Before the first start() there is nothing to register with: start() checks the page itself.
    if (this.o.stopping() || this.recovering || this.reloading || !this.provisioned) return;
    this.recovering = true;
    this.stopHeartbeat();
    this.sip.cancel();
    this.setRegistered(false);
    this.audioUp = false;
    this.o.metrics.pageRecoveries.inc();
    this.o.log.error({ why }, "page: lost; ending its calls and relaunching Chrome");
    this.o.onLost(why);
    void (async () => {
      for (let attempt = 1; !this.o.stopping(); attempt++) {
        const old = this.browser;
        this.browser = undefined;
        await closeBrowser(old);
        try {
          await this.launch();
          this.o.log.info({ attempt }, "page: recovered");
          break;
        } catch (err) {
          const waitMs = Math.min(RELAUNCH_MAX_WAIT_MS, 1000 * 2 ** (attempt - 1));
          this.o.log.error({ attempt, waitMs, err: (err as Error).message }, "page: relaunch failed, retrying");
          await new Promise((r) => setTimeout(r, waitMs));
        }
      }
      this.recovering = false;
    })();
  }
}

/** Closes Chrome, and kills it if a hung renderer keeps it from closing. */
async function closeBrowser(browser: Browser | undefined): Promise<void> {
  if (!browser) return;
  let timer: NodeJS.Timeout | undefined;
  const closed = browser.close().catch(() => {});
  const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), CLOSE_TIMEOUT_MS)));
  if ((await Promise.race([closed, late])) === "late") browser.process()?.kill("SIGKILL");
  clearTimeout(timer);
}

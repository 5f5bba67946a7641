/**
 * The WebPhone's SIP transport, watched and rebuilt on the host's command. The WebPhone neither
 * notices that its WebSocket died nor registers again after it did, and a failed re-REGISTER
 * (timer-driven) is a promise nobody awaits. This reports each of those as `sipLost`; the host
 * decides when and where to reconnect (docs/ARCHITECTURE.md, "SIP recovery").
 */
import type WebPhone from "ringcentral-web-phone";
import type CallSession from "ringcentral-web-phone/call-session/index";
import type { DefaultSipClient } from "ringcentral-web-phone/sip-client";
import type { SipInfo } from "ringcentral-web-phone/types";
import { sipStatusOf, type PageEvent } from "../bridge/page-protocol.ts";

/** What the WebPhone's own start() asks for; RingCentral grants less (47 s was seen). */
const REGISTER_EXPIRES_S = 60;
const CONNECT_TIMEOUT_MS = 5000;
/** The WebPhone itself closes the socket when a REGISTER is unanswered for 5 s; a digest round trip is two. */
const REGISTER_TIMEOUT_MS = 12_000;
const REINVITE_TIMEOUT_MS = 8000;

type Client = DefaultSipClient;
/** The SDK keeps the re-REGISTER timer private; a reconnect must cancel the old socket's. */
const cancelReRegister = (c: Client): void => clearTimeout((c as unknown as { timeoutHandle?: ReturnType<typeof setTimeout> }).timeoutHandle);

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function bounded<T>(p: Promise<T>, ms: number, what: string, failOn?: Promise<never>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  return Promise.race([p, timeout, ...(failOn ? [failOn] : [])]).finally(() => clearTimeout(timer));
}

export class SipWatch {
  private readonly client: Client;
  /** The SDK's own methods; the instance's are replaced by watching versions. */
  private readonly connectRaw: () => Promise<void>;
  private readonly registerRaw: (expires: number) => Promise<void>;
  /** Sockets closed on purpose (reconnect, dispose): their close is not a loss. */
  private readonly retired = new WeakSet<WebSocket>();
  private disposed = false;

  constructor(
    private readonly wp: WebPhone,
    private readonly emit: (e: PageEvent) => void,
    /** Ends a call the page cannot keep, without signalling (there is no socket to signal on). */
    private readonly drop: (cs: CallSession, reason: string) => void,
  ) {
    const c = wp.sipClient as Client;
    this.client = c;
    this.connectRaw = c.connect.bind(c);
    this.registerRaw = c.register.bind(c);
    c.connect = () => {
      const opened = this.connectRaw();
      this.watch(c.wsc);
      return opened;
    };
    // The SDK re-REGISTERs from a timer through `this.register`: a failure there would be an
    // unhandled rejection and a silently dead line. Expires 0 (unregister at dispose) stays quiet.
    c.register = (expires: number) =>
      this.registerRaw(expires).catch((err: unknown) => {
        if (expires > 0 && !this.disposed) this.lost(`re-REGISTER failed: ${messageOf(err)}`, sipStatusOf(messageOf(err)));
      });
  }

  /** Whether SIP can be sent now (a hang-up's BYE, say). */
  get connected(): boolean {
    return this.client.wsc?.readyState === WebSocket.OPEN;
  }

  /** The first registration, as the SDK's start() does it, but bounded in time. */
  async start(): Promise<void> {
    await this.open();
  }

  /** A new socket (on the backup proxy if asked, with a new sipInfo if given), REGISTER, then the calls. */
  async reconnect(backup: boolean, sipInfo?: SipInfo): Promise<void> {
    this.retire();
    if (sipInfo) {
      this.client.sipInfo = sipInfo;
      this.wp.sipInfo = sipInfo;
      this.wp.options.sipInfo = sipInfo;
    }
    this.client.toggleBackupOutboundProxy(backup);
    await this.open();
    await this.recoverCalls();
  }

  dispose(): void {
    this.disposed = true;
  }

  private async open(): Promise<void> {
    const c = this.client;
    cancelReRegister(c);
    try {
      await bounded(c.connect(), CONNECT_TIMEOUT_MS, "the SIP WebSocket to open");
    } catch (err) {
      this.retire();
      throw err instanceof Event ? new Error("the SIP WebSocket could not connect") : err;
    }
    const ws = c.wsc;
    const closed = new Promise<never>((_, reject) => ws.addEventListener("close", (e) => reject(new Error(`the SIP WebSocket closed (${e.code}) during REGISTER`)), { once: true }));
    closed.catch(() => {});
    try {
      await bounded(this.registerRaw(REGISTER_EXPIRES_S), REGISTER_TIMEOUT_MS, "REGISTER", closed);
    } catch (err) {
      this.retire();
      throw err;
    }
  }

  /** Closes the current socket and cancels its re-REGISTER, without reporting a loss. */
  private retire(): void {
    const c = this.client;
    cancelReRegister(c);
    const ws = c.wsc as WebSocket | undefined;
    if (!ws) return;
    this.retired.add(ws);
    if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close();
  }

  /**
   * Answered calls move to the new socket with a re-INVITE (ICE restart, as the WebPhone's
   * reInvite() offers); one the far end no longer knows ends `sip-lost`, as does every call that
   * was still being set up (its INVITE transaction died with the socket).
   */
  private async recoverCalls(): Promise<void> {
    await Promise.all(
      [...this.wp.callSessions].map(async (cs) => {
        if (cs.state !== "answered") return this.drop(cs, "sip-lost");
        try {
          await bounded(cs.reInvite(), REINVITE_TIMEOUT_MS, "re-INVITE");
          this.emit({ type: "log", level: "info", msg: "call moved to the new SIP connection", sipCallId: cs.callId });
        } catch (err) {
          this.emit({ type: "log", level: "warn", msg: `call lost with the SIP connection: ${messageOf(err)}`, sipCallId: cs.callId });
          this.drop(cs, "sip-lost");
        }
      }),
    );
  }

  private watch(ws: WebSocket): void {
    ws.addEventListener("close", (e) => {
      if (this.disposed || this.retired.has(ws) || ws !== this.client.wsc) return;
      this.lost(`the SIP WebSocket closed (${e.code}${e.reason ? ` ${e.reason}` : ""})`);
    });
  }

  private lost(reason: string, status?: number): void {
    this.emit({ type: "sipLost", reason, ...(status !== undefined && { status }) });
  }
}

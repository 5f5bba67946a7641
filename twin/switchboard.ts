import { findExtension, type TwinAccount } from "./account.ts";
import type { TwinContext } from "./context.ts";
import { Call, inDialogRequest, newTag, telephonyParties, type CalleeBehaviour, type EndReason } from "./calls.ts";
import { CallerPeer, type CallerCodec } from "./caller/peer.ts";
import { Forking } from "./forking.ts";
import { digestResponse, newNonce, parseDigest } from "./sip/digest.ts";
import {
  callIdOf,
  header,
  isResponse,
  methodOf,
  responseTo,
  tagOf,
  userOf,
  type SipMessage,
} from "./sip/message.ts";
import { Registrar } from "./sip/registrar.ts";
import { Transactions } from "./sip/transactions.ts";
import type { SipConnection } from "./sip/transport.ts";
import type { TelephonyParty, TelephonySession } from "./telephony.ts";
import { ApiError } from "./rest/index.ts";
import { DialogRecovery } from "./dialog-recovery.ts";
import type { SipFaults } from "./faults/sip-faults.ts";

export interface PlaceCallRequest {
  from: string;
  /** The extension rung: its number, id, phone number or SIP username; default the first (101). */
  to?: string;
  play: string;
  hangupAfterMs?: number;
  codecs?: CallerCodec[];
  /** "device": ring every registered instance (default); "elsewhere": ring only another (absent) device. */
  ring?: "device" | "elsewhere";
  /** Send `Alert-Info: Auto Answer` on the first INVITE. */
  autoAnswer?: boolean;
  callerName?: string;
}

/**
 * The twin's switch: registrations, the calls it places to the page, the calls the page places,
 * and everything said on their SIP dialogs (docs/WIRE.md §1-3, §6.1).
 */
export class Switchboard {
  readonly registrar: Registrar;
  readonly calls = new Map<string, Call>();
  private readonly byCallId = new Map<string, Call>();
  private readonly tx = new Transactions();
  private readonly forking: Forking;
  private readonly proxyNonces = new Set<string>();
  readonly callees = new Map<string, CalleeBehaviour>();
  defaultCallee: CalleeBehaviour = { play: "tone:440" };
  private seq = 0;
  /** Answered calls whose SIP socket dropped: kept up, re-bound, or given up (dialog-recovery.ts). */
  readonly dialogs: DialogRecovery;

  constructor(private readonly ctx: TwinContext, registerExpiresS: number, opts: { sipFaults?: SipFaults; dialogGraceMs?: number } = {}) {
    this.registrar = new Registrar(ctx.account, registerExpiresS, ctx.log, opts.sipFaults);
    this.dialogs = new DialogRecovery(ctx.log, (call) => void this.hangupFromCaller(call, "failed"), opts.dialogGraceMs);
    ctx.telephony.answerOnDevice = (session, party, deviceId) => this.answerOnDevice(session, party, deviceId);
    this.forking = new Forking({
      ctx,
      tx: this.tx,
      adopt: (call, callId) => this.adopt(call, callId),
      answered: (call) => this.answered(call),
      end: (call, reason) => this.end(call, reason),
    });
  }

  get account(): TwinAccount {
    return this.ctx.account;
  }

  // ── transport events ──────────────────────────────────────────────────────────

  onOutgoing(_conn: SipConnection, msg: SipMessage, raw: string): void {
    this.traceOf(msg, "out", raw);
  }

  /** Messages of a dialog that has no call yet (the page's INVITE before its 407) wait here. */
  private readonly early = new Map<string, Array<[dir: "in" | "out", raw: string, atMs: number]>>();

  private traceOf(msg: SipMessage, dir: "in" | "out", raw: string): void {
    const id = callIdOf(msg);
    const call = this.byCallId.get(id);
    if (call) return call.record(dir, raw);
    if (methodOf(msg) === "REGISTER") return;
    if (this.early.size > 200) this.early.delete(this.early.keys().next().value!);
    const list = this.early.get(id) ?? [];
    if (list.length < 20) list.push([dir, raw, Date.now()]);
    this.early.set(id, list);
  }

  private adopt(call: Call, callId: string): void {
    this.byCallId.set(callId, call);
    for (const [dir, raw, atMs] of this.early.get(callId) ?? []) call.record(dir, raw, atMs);
    this.early.delete(callId);
  }

  onClose(conn: SipConnection): void {
    this.registrar.dropConnection(conn);
    this.tx.dropConnection(conn);
    // Ringing forks on this socket fail as their INVITEs do (Transactions.dropConnection, above).
    for (const call of this.calls.values()) {
      if (call.leg?.conn !== conn || call.state === "ended") continue;
      // A ringing INVITE dies with its socket; an answered call keeps its media, as RingCentral's does.
      if (call.state === "ringing") void this.end(call, "failed");
      else this.dialogs.lost(call);
    }
  }

  onMessage(conn: SipConnection, msg: SipMessage, raw: string): void {
    this.traceOf(msg, "in", raw);
    if (isResponse(msg)) {
      this.tx.onResponse(msg);
      return;
    }
    const method = methodOf(msg);
    if (!header(msg, "CSeq") || !header(msg, "Call-ID")) {
      conn.send(responseTo(msg, 400, "Bad Request"));
      return;
    }
    if (method !== "REGISTER") this.dialogs.rebind(this.byCallId.get(callIdOf(msg)), conn, msg);
    switch (method) {
      case "REGISTER": {
        const res = this.registrar.handle(conn, msg);
        if (res) conn.send(res);
        return;
      }
      case "INVITE":
        void this.onInvite(conn, msg).catch((err) => this.ctx.log.error({ err: (err as Error).message }, "twin: INVITE failed"));
        return;
      case "ACK":
        return;
      case "MESSAGE":
        this.onRcMessage(conn, msg);
        return;
      case "BYE":
        this.onBye(conn, msg);
        return;
      case "CANCEL":
        this.onCancel(conn, msg);
        return;
      case "INFO":
        this.onInfo(conn, msg);
        return;
      case "REFER":
        this.onRefer(conn, msg);
        return;
      case "OPTIONS":
        conn.send(responseTo(msg, 200, "OK"));
        return;
      default:
        conn.send(responseTo(msg, 405, "Method Not Allowed"));
    }
  }

  // ── calls the twin places (inbound to the extension) ──────────────────────────

  async placeInbound(req: PlaceCallRequest): Promise<Call> {
    const { account, telephony } = this.ctx;
    const ext = req.to === undefined ? account : findExtension(account, req.to);
    if (!ext) throw new Error(`no extension or phone number ${req.to} on the twin`);
    const session = telephony.create(telephonyParties(account, ext, "inbound", req.from, ext.phoneNumber));
    const call = new Call(++this.seq, ext, "inbound", req.from, ext.phoneNumber, req.play, req.codecs ?? ["opus", "PCMU"], session, req.hangupAfterMs);
    if (req.callerName !== undefined) call.callerName = req.callerName;
    this.calls.set(call.id, call);
    this.ctx.log.info({ call: call.id, from: req.from, extension: ext.extensionNumber, telephonySessionId: call.telephonySessionId }, "twin: placing inbound call");
    if (req.ring === "elsewhere") {
      // Rings on a device that is not the WebPhone: only Call Control can bring it here.
      telephony.setStatus(call.telephonySessionId, call.partyId, "Proceeding");
      return call;
    }
    const regs = this.registrar.active(ext);
    if (regs.length === 0) {
      await this.end(call, "no-device");
      return call;
    }
    await this.forking.ring(call, regs, { autoAnswer: Boolean(req.autoAnswer) });
    return call;
  }

  /**
   * Call Control answer: move a ringing call onto the device, as RingCentral does: CANCEL what
   * rings, then an auto-answer INVITE to each instance registered with the device's credentials.
   */
  private async answerOnDevice(session: TelephonySession, _party: TelephonyParty, deviceId: string): Promise<void> {
    const call = [...this.calls.values()].find((c) => c.telephonySessionId === session.telephonySessionId);
    if (!call || call.direction !== "inbound" || call.state !== "ringing" || call.leg) throw new ApiError(409, "TAS-106", "Operation is not allowed: the party is not ringing");
    const regs = this.registrar.forDevice(deviceId);
    if (regs.length === 0) throw new ApiError(404, "CMN-102", `Resource for parameter [deviceId] is not found: device ${deviceId} is not registered`);
    await this.forking.cancelAll(call);
    if (call.state !== "ringing") return;
    void this.forking.ring(call, regs, { autoAnswer: true }).catch((err) => this.ctx.log.error({ err: (err as Error).message }, "twin: auto-answer INVITE failed"));
  }

  // ── calls the page places (outbound from the extension) ───────────────────────

  private async onInvite(conn: SipConnection, req: SipMessage): Promise<void> {
    const existing = this.byCallId.get(callIdOf(req));
    if (existing) {
      // A re-INVITE of the live dialog; a losing fork's Call-ID names no dialog.
      if (existing.state === "answered" && existing.leg?.callId === callIdOf(req)) conn.send(await this.dialogs.answerReInvite(existing, req));
      else conn.send(responseTo(req, 481, "Call/Transaction Does Not Exist"));
      return;
    }
    const domain = this.ctx.account.sip.domain;
    const auth = parseDigest(header(req, "Proxy-Authorization"));
    if (!auth || !auth.nonce || !this.proxyNonces.has(auth.nonce)) {
      const nonce = newNonce();
      this.proxyNonces.add(nonce);
      conn.send(responseTo(req, 100, "Trying"));
      // The WebPhone reads the nonce with /, nonce="(.+?)"/: it must not come first.
      conn.send(responseTo(req, 407, "Proxy Authentication Required", [["Proxy-Authenticate", `Digest algorithm=MD5, realm="${domain}", nonce="${nonce}"`]], "", newTag()));
      return;
    }
    this.proxyNonces.delete(auth.nonce);
    const { account } = this.ctx;
    const ext = account.extensions.find((e) => e.sip.authorizationId === auth.username);
    const expected = ext && digestResponse({ username: ext.sip.authorizationId, realm: ext.sip.domain, password: ext.sip.password, method: "INVITE", uri: auth.uri ?? "", nonce: auth.nonce });
    if (!ext || auth.response !== expected) {
      conn.send(responseTo(req, 403, "Forbidden"));
      return;
    }
    conn.send(responseTo(req, 100, "Trying"));
    const to = userOf(header(req, "To")) ?? "";
    const behaviour = this.callees.get(to) ?? this.defaultCallee;
    const session = this.ctx.telephony.create(telephonyParties(account, ext, "outbound", ext.phoneNumber, to));
    const call = new Call(++this.seq, ext, "outbound", ext.phoneNumber, to, behaviour.play, behaviour.codecs ?? ["opus", "PCMU"], session, behaviour.hangupAfterMs);
    this.calls.set(call.id, call);
    const callId = callIdOf(req);
    const localTag = newTag();
    const instanceId = this.registrar.active(ext).find((r) => r.conn === conn)?.instanceId;
    call.leg = { callId, conn, invite: req, localTag, remoteTag: tagOf(header(req, "From")), localAddr: header(req, "To")!, remoteAddr: header(req, "From")!, ourInvite: false, instanceId };
    call.sipCallIds.push(callId);
    this.adopt(call, callId);
    const apiIds: Array<[string, string]> = [["p-rc-api-ids", `party-id=${call.partyId};session-id=${call.telephonySessionId}`]];
    const contact: Array<[string, string]> = [["Contact", `<sip:${to}@${this.ctx.outboundProxy};transport=wss>`]];
    this.ctx.log.info({ call: call.id, to, telephonySessionId: call.telephonySessionId }, "twin: page placed a call");
    // Exactly one provisional, then the final answer (RingCentral answers 200 before the callee does).
    conn.send(responseTo(req, 183, "Session Progress", [...contact, ...apiIds], "", localTag));
    this.ctx.telephony.setStatus(call.telephonySessionId, call.partyId, "Proceeding");
    if (behaviour.busy) {
      conn.send(responseTo(req, 486, "Busy Here", apiIds, "", localTag));
      await this.end(call, "busy");
      return;
    }
    call.peer = new CallerPeer(call.play, call.codecs);
    let answer: string;
    try {
      answer = await call.peer.answerOffer(req.body);
    } catch (err) {
      conn.send(responseTo(req, 488, "Not Acceptable Here", apiIds, "", localTag));
      this.ctx.log.warn({ call: call.id, err: (err as Error).message }, "twin: page offer not acceptable");
      await this.end(call, "failed");
      return;
    }
    if (call.state === "ended") return;
    conn.send(responseTo(req, 200, "OK", [...contact, ...apiIds, ["Content-Type", "application/sdp"]], answer, localTag));
    this.answered(call);
  }

  // ── in-dialog requests from the page ──────────────────────────────────────────

  private onRcMessage(conn: SipConnection, req: SipMessage): void {
    conn.send(responseTo(req, 200, "OK"));
    const call = this.byCallId.get(callIdOf(req));
    const cmd = req.body.match(/Cmd="(\d+)"/)?.[1];
    const fork = call && this.forking.ringingFork(call, callIdOf(req));
    if (!call || !fork) return;
    // Cmd 17 = the device confirms it received the call; 12 decline; 11 to voicemail; 10 forward.
    // Any of the three from one instance ends the call on every leg.
    const outcome: Record<string, "declined" | "voicemail" | "forwarded"> = { "12": "declined", "11": "voicemail", "10": "forwarded" };
    const reason = cmd ? outcome[cmd] : undefined;
    if (!reason) return;
    const voicemail = () => this.ctx.telephony.setStatus(call.telephonySessionId, call.partyId, "VoiceMail");
    void this.forking.endFrom(call, fork, reason, reason, reason === "voicemail" ? voicemail : undefined);
  }

  private onBye(conn: SipConnection, req: SipMessage): void {
    conn.send(responseTo(req, 200, "OK"));
    const call = this.byCallId.get(callIdOf(req));
    if (call && call.leg?.callId === callIdOf(req) && call.state !== "ended") void this.end(call, "agent-hangup");
  }

  private onCancel(conn: SipConnection, req: SipMessage): void {
    conn.send(responseTo(req, 200, "OK"));
    const call = this.byCallId.get(callIdOf(req));
    if (!call || call.direction !== "outbound" || call.state !== "ringing" || !call.leg) return;
    conn.send(responseTo(call.leg.invite, 487, "Request Terminated", [], "", call.leg.localTag));
    void this.end(call, "cancelled");
  }

  private onInfo(conn: SipConnection, req: SipMessage): void {
    conn.send(responseTo(req, 200, "OK"));
    const call = this.byCallId.get(callIdOf(req));
    let request: { reqid?: number; command?: string } | undefined;
    try {
      request = (JSON.parse(req.body) as { request?: { reqid?: number; command?: string } }).request;
    } catch {
      return; // INFO bodies we do not understand (e.g. DTMF relay) are acknowledged and ignored.
    }
    if (!call || call.leg?.callId !== callIdOf(req) || !request?.command) return;
    call.infoCommands.push(request.command);
    if (request.command === "startcallrecord") call.recordingActive = true;
    if (request.command === "stopcallrecord") call.recordingActive = false;
    this.sendInDialog(call, "INFO", [["Content-Type", "application/json;charset=utf-8"]], JSON.stringify({ response: { reqid: request.reqid, command: request.command, result: { code: 0, description: "Succeeded" } } }));
  }

  private onRefer(conn: SipConnection, req: SipMessage): void {
    const call = this.byCallId.get(callIdOf(req));
    const target = userOf(header(req, "Refer-To")) ?? header(req, "Refer-To");
    if (!call || call.state !== "answered" || call.leg?.callId !== callIdOf(req) || !target) {
      conn.send(responseTo(req, 481, "Call/Transaction Does Not Exist"));
      return;
    }
    conn.send(responseTo(req, 202, "Accepted"));
    call.transferTarget = target;
    // Warm transfer: Refer-To carries Replaces=<Call-ID of the consultation call>. RingCentral
    // joins the caller and the target, and releases both of the device's calls.
    const replaces = decodeURIComponent(header(req, "Refer-To") ?? "").match(/Replaces=([^;>]+)/)?.[1];
    const consult = replaces ? this.byCallId.get(replaces) : undefined;
    this.ctx.log.info({ call: call.id, target, warm: Boolean(consult) }, "twin: transfer");
    if (consult && consult !== call) {
      consult.transferTarget = target;
      void this.hangupFromCaller(consult, "transferred");
    }
    void this.hangupFromCaller(call, "transferred");
  }

  // ── shared ────────────────────────────────────────────────────────────────────

  private answered(call: Call): void {
    call.state = "answered";
    call.answeredAtMs = Date.now();
    this.ctx.telephony.setStatus(call.telephonySessionId, call.partyId, "Answered");
    this.ctx.log.info({ call: call.id, codec: call.peer?.negotiatedCodec }, "twin: call answered");
    if (call.hangupAfterMs !== undefined) call.hangupTimer = setTimeout(() => void this.hangupFromCaller(call), call.hangupAfterMs);
  }

  /** The caller hangs up: BYE when answered, CANCEL while ringing. */
  async hangupFromCaller(call: Call, reason: EndReason = "caller-hangup"): Promise<void> {
    if (call.state === "ended") return;
    const leg = call.leg;
    // Ringing: CANCEL every fork (the page's own INVITE gets a 487). A call whose winning leg is
    // still being set up gets its BYE.
    if (call.state === "ringing" && !leg?.ourInvite) {
      if (leg) leg.conn.send(responseTo(leg.invite, 487, "Request Terminated", [], "", leg.localTag));
      else await this.forking.cancelAll(call);
      await this.end(call, reason === "caller-hangup" ? "cancelled" : reason);
      return;
    }
    if (leg) await this.sendInDialog(call, "BYE").catch(() => {});
    await this.end(call, reason);
  }

  private sendInDialog(call: Call, method: string, extra: Array<[string, string]> = [], body = ""): Promise<SipMessage> {
    const leg = call.leg!;
    // A dialog whose socket died is reached over its instance's live registration (or, when the
    // instance is not known, the extension's newest), as a proxy routes to a registered
    // instance's flow; with none there is no one to tell.
    const regs = this.registrar.active(call.extension);
    const conn = leg.conn.open ? leg.conn : (leg.instanceId ? regs.find((r) => r.instanceId === leg.instanceId) : regs[0])?.conn;
    if (!conn) return Promise.reject(new Error("no SIP connection to the device"));
    const req = inDialogRequest(leg, method, this.tx.nextCseq(), this.ctx.outboundProxy, call.extension.sip.username, extra, body);
    return this.tx.send(conn, req, { timeoutMs: 5000 });
  }

  private async end(call: Call, reason: EndReason): Promise<void> {
    if (call.state === "ended") return;
    call.state = "ended";
    call.endReason = reason;
    call.endedAtMs = Date.now();
    clearTimeout(call.hangupTimer);
    clearTimeout(call.sipLostTimer);
    if (call.forks.some((f) => f.outcome === "ringing")) void this.forking.cancelAll(call);
    const code = reason === "voicemail" ? undefined : "Disconnected";
    const rcReason: Partial<Record<EndReason, string>> = { cancelled: "Cancelled", transferred: "BlindTransfer", busy: "Busy", declined: "Rejected" };
    if (code) this.ctx.telephony.setStatus(call.telephonySessionId, call.partyId, code, rcReason[reason] ?? "CallFinished");
    else this.ctx.telephony.setStatus(call.telephonySessionId, call.partyId, "Disconnected", "VoiceMail");
    this.ctx.log.info({ call: call.id, reason }, "twin: call ended");
    // Keep the recording: stop the peer's media but keep what it heard.
    await call.peer?.close();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.calls.values()].map((c) => this.hangupFromCaller(c).catch(() => {})));
  }
}

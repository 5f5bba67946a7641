import type { TwinContext } from "./context.ts";
import { Call, newBranch, newCallId, newTag, telephonyParties, type CalleeBehaviour, type EndReason, type Leg } from "./calls.ts";
import { CallerPeer, type CallerCodec } from "./caller/peer.ts";
import { digestResponse, newNonce, parseDigest } from "./sip/digest.ts";
import {
  callIdOf,
  cseqNumber,
  header,
  isResponse,
  methodOf,
  responseTo,
  statusOf,
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
  to?: string;
  play: string;
  hangupAfterMs?: number;
  codecs?: CallerCodec[];
  /** "device": ring the registered WebPhone (default); "elsewhere": ring only another (absent) device. */
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
    const session = this.ctx.telephony.create(telephonyParties(this.ctx, "inbound", req.from, req.to ?? ""));
    const call = new Call(++this.seq, "inbound", req.from, req.to ?? this.ctx.account.phoneNumber, req.play, req.codecs ?? ["opus", "PCMU"], session, req.hangupAfterMs);
    this.calls.set(call.id, call);
    this.ctx.log.info({ call: call.id, from: req.from, telephonySessionId: call.telephonySessionId }, "twin: placing inbound call");
    if (req.ring === "elsewhere") {
      // Rings on a device that is not the WebPhone: only Call Control can bring it here.
      this.ctx.telephony.setStatus(call.telephonySessionId, call.partyId, "Proceeding");
      return call;
    }
    const reg = this.registrar.active()[0];
    if (!reg) {
      await this.end(call, "no-device");
      return call;
    }
    await this.inviteDevice(call, reg.conn, Boolean(req.autoAnswer), req.callerName);
    return call;
  }

  private async inviteDevice(call: Call, conn: SipConnection, autoAnswer: boolean, callerName = "TWIN CALLER"): Promise<void> {
    const { account, outboundProxy } = this.ctx;
    const domain = account.sip.domain;
    await call.peer?.close();
    const peer = new CallerPeer(call.play, call.codecs);
    call.peer = peer;
    const offer = await peer.createOffer();
    const callId = newCallId();
    const localTag = newTag();
    const localAddr = `"${callerName}" <sip:${call.from}@${domain}>`;
    const remoteAddr = `<sip:${account.sip.username}@${domain}>`;
    const cseq = this.tx.nextCseq();
    const base = call.telephonySessionId.slice(2);
    // "Call-Id", not "Call-ID": the WebPhone's decline()/toVoicemail() look for their 200 to our
    // CANCEL under `headers["Call-Id"]` exactly, and its responses keep our spelling.
    const invite: SipMessage = {
      startLine: `INVITE sip:${account.sip.username}@${outboundProxy};transport=ws SIP/2.0`,
      headers: [
        ["Via", `SIP/2.0/WSS ${outboundProxy};rport;branch=${newBranch()}`],
        ["From", `${localAddr};tag=${localTag}`],
        ["To", remoteAddr],
        ["Call-Id", callId],
        ["CSeq", `${cseq} INVITE`],
        ["Contact", `<sip:${call.from}@${outboundProxy};transport=wss>`],
        ["Content-Type", "application/sdp"],
        ["p-rc-api-ids", `party-id=${call.partyId};session-id=${call.telephonySessionId}`],
        ["p-rc-api-call-info", `callAttributes=reject,send-vm;callerIdName=${callerName}`],
        [
          "P-rc",
          `<Msg><Hdr SID="${call.session.sessionId}" Req="{${base.toUpperCase().slice(0, 8)}-TWIN}" From="#1000016@${domain}:5060" To="${account.sip.username}" Cmd="6"/><Bdy Phn="${call.from}" Nm="${callerName}" ToPhn="${call.to}" ToNm="${account.name}"/></Msg>`,
        ],
        ["Call-Info", `<${callId}@${domain}>;purpose=info${autoAnswer ? ";Answer-After=0" : ""}`],
        ...(autoAnswer ? ([["Alert-Info", "Auto Answer"]] as Array<[string, string]>) : []),
      ],
      body: offer,
    };
    const leg: Leg = { callId, conn, invite, localTag, localAddr, remoteAddr, ourInvite: true };
    call.leg = leg;
    call.sipCallIds.push(callId);
    this.byCallId.set(callId, call);
    const finalResponse = this.tx.send(conn, invite, {
      onProvisional: (res) => {
        if (statusOf(res) === 180) this.ctx.telephony.setStatus(call.telephonySessionId, call.partyId, "Proceeding");
      },
    });
    // The INVITE is out: the call rings. Its outcome (answer, decline, timeout) arrives later, so
    // POST /twin/calls and Call Control answer return now rather than when someone picks up.
    void this.completeInvite(call, leg, peer, finalResponse).catch((err) =>
      this.ctx.log.error({ call: call.id, err: (err as Error).message }, "twin: INVITE outcome failed"),
    );
  }

  private async completeInvite(call: Call, leg: Leg, peer: CallerPeer, finalResponse: Promise<SipMessage>): Promise<void> {
    const { account, outboundProxy } = this.ctx;
    const { conn, invite, callId } = leg;
    const cseq = cseqNumber(invite);
    let final: SipMessage;
    try {
      final = await finalResponse;
    } catch {
      if (call.leg === leg && call.state !== "ended") await this.end(call, "failed");
      return;
    }
    if (call.leg !== leg || call.state === "ended") return; // cancelled or moved meanwhile
    if (statusOf(final) !== 200) {
      await this.end(call, statusOf(final) === 486 || statusOf(final) === 603 ? "declined" : "failed");
      return;
    }
    leg.remoteTag = tagOf(header(final, "To"));
    conn.send({
      startLine: `ACK sip:${account.sip.username}@${outboundProxy};transport=ws SIP/2.0`,
      headers: [
        ["Via", `SIP/2.0/WSS ${outboundProxy};rport;branch=${newBranch()}`],
        ["From", header(invite, "From")!],
        ["To", header(final, "To")!],
        ["Call-Id", callId],
        ["CSeq", `${cseq} ACK`],
      ],
      body: "",
    });
    await peer.acceptAnswer(final.body);
    this.answered(call);
  }

  /** Call Control answer: move a ringing call onto the device, as RingCentral does (CANCEL, then an auto-answer INVITE). */
  private async answerOnDevice(session: TelephonySession, _party: TelephonyParty, deviceId: string): Promise<void> {
    const call = [...this.calls.values()].find((c) => c.telephonySessionId === session.telephonySessionId);
    if (!call || call.state !== "ringing") throw new ApiError(409, "TAS-106", "Operation is not allowed: the party is not ringing");
    const reg = this.registrar.forDevice(deviceId);
    if (!reg) throw new ApiError(404, "CMN-102", `Resource for parameter [deviceId] is not found: device ${deviceId} is not registered`);
    if (call.leg) await this.cancelLeg(call, call.leg);
    void this.inviteDevice(call, reg.conn, true).catch((err) => this.ctx.log.error({ err: (err as Error).message }, "twin: auto-answer INVITE failed"));
  }

  private async cancelLeg(call: Call, leg: Leg): Promise<void> {
    const via = header(leg.invite, "Via")!;
    call.leg = undefined;
    await this.tx
      .send(
        leg.conn,
        {
          startLine: leg.invite.startLine.replace(/^INVITE/, "CANCEL"),
          headers: [
            ["Via", via],
            ["From", header(leg.invite, "From")!],
            ["To", header(leg.invite, "To")!],
            ["Call-Id", leg.callId],
            ["CSeq", `${cseqNumber(leg.invite)} CANCEL`],
          ],
          body: "",
        },
        { timeoutMs: 5000 },
      )
      .catch(() => {});
    // The WebPhone never answers 487 to a cancelled INVITE: forget the INVITE transaction.
    this.tx.abandon(leg.callId, cseqNumber(leg.invite));
  }

  // ── calls the page places (outbound from the extension) ───────────────────────

  private async onInvite(conn: SipConnection, req: SipMessage): Promise<void> {
    const existing = this.byCallId.get(callIdOf(req));
    if (existing && existing.state === "answered") {
      conn.send(await this.dialogs.answerReInvite(existing, req));
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
    const sip = this.ctx.account.sip;
    const expected = digestResponse({ username: sip.authorizationId, realm: sip.domain, password: sip.password, method: "INVITE", uri: auth.uri ?? "", nonce: auth.nonce });
    if (auth.username !== sip.authorizationId || auth.response !== expected) {
      conn.send(responseTo(req, 403, "Forbidden"));
      return;
    }
    conn.send(responseTo(req, 100, "Trying"));
    const to = userOf(header(req, "To")) ?? "";
    const behaviour = this.callees.get(to) ?? this.defaultCallee;
    const session = this.ctx.telephony.create(telephonyParties(this.ctx, "outbound", this.ctx.account.phoneNumber, to));
    const call = new Call(++this.seq, "outbound", this.ctx.account.phoneNumber, to, behaviour.play, behaviour.codecs ?? ["opus", "PCMU"], session, behaviour.hangupAfterMs);
    this.calls.set(call.id, call);
    const callId = callIdOf(req);
    const localTag = newTag();
    call.leg = { callId, conn, invite: req, localTag, remoteTag: tagOf(header(req, "From")), localAddr: header(req, "To")!, remoteAddr: header(req, "From")!, ourInvite: false };
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
    if (!call || call.state !== "ringing" || !call.leg) return;
    // Cmd 17 = the device confirms it received the call; 12 decline; 11 to voicemail; 10 forward.
    const outcome: Record<string, EndReason> = { "12": "declined", "11": "voicemail", "10": "forwarded" };
    const reason = cmd ? outcome[cmd] : undefined;
    if (!reason) return;
    const leg = call.leg;
    void (async () => {
      await this.cancelLeg(call, leg);
      if (reason === "voicemail") this.ctx.telephony.setStatus(call.telephonySessionId, call.partyId, "VoiceMail");
      await this.end(call, reason);
    })();
  }

  private onBye(conn: SipConnection, req: SipMessage): void {
    conn.send(responseTo(req, 200, "OK"));
    const call = this.byCallId.get(callIdOf(req));
    if (call && call.leg?.callId === callIdOf(req) && call.state !== "ended") void this.end(call, "agent-hangup");
  }

  private onCancel(conn: SipConnection, req: SipMessage): void {
    conn.send(responseTo(req, 200, "OK"));
    const call = this.byCallId.get(callIdOf(req));
    if (!call || call.state !== "ringing" || !call.leg) return;
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
    if (!call || !call.leg || !request?.command) return;
    call.infoCommands.push(request.command);
    if (request.command === "startcallrecord") call.recordingActive = true;
    if (request.command === "stopcallrecord") call.recordingActive = false;
    this.sendInDialog(call, "INFO", [["Content-Type", "application/json;charset=utf-8"]], JSON.stringify({ response: { reqid: request.reqid, command: request.command, result: { code: 0, description: "Succeeded" } } }));
  }

  private onRefer(conn: SipConnection, req: SipMessage): void {
    const call = this.byCallId.get(callIdOf(req));
    const target = userOf(header(req, "Refer-To")) ?? header(req, "Refer-To");
    if (!call || call.state !== "answered" || !target) {
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
    if (call.state === "ringing") {
      if (leg) await this.cancelLeg(call, leg);
      await this.end(call, reason === "caller-hangup" ? "cancelled" : reason);
      return;
    }
    if (leg) await this.sendInDialog(call, "BYE").catch(() => {});
    await this.end(call, reason);
  }

  private sendInDialog(call: Call, method: string, extra: Array<[string, string]> = [], body = ""): Promise<SipMessage> {
    const leg = call.leg!;
    const local = `${leg.localAddr.replace(/;tag=[^;]*/, "")};tag=${leg.localTag}`;
    const remote = leg.remoteTag ? `${leg.remoteAddr.replace(/;tag=[^;]*/, "")};tag=${leg.remoteTag}` : leg.remoteAddr;
    const proxy = this.ctx.outboundProxy;
    // A dialog whose socket died is reached over the device's newest registration, as a proxy
    // routes to a registered instance's flow; with none left there is no one to tell.
    const conn = leg.conn.open ? leg.conn : this.registrar.active()[0]?.conn;
    if (!conn) return Promise.reject(new Error("no SIP connection to the device"));
    return this.tx.send(
      conn,
      {
        startLine: `${method} sip:${this.ctx.account.sip.username}@${proxy};transport=ws SIP/2.0`,
        headers: [
          ["Via", `SIP/2.0/WSS ${proxy};rport;branch=${newBranch()}`],
          ["From", local],
          ["To", remote],
          ["Call-Id", leg.callId],
          ["CSeq", `${this.tx.nextCseq()} ${method}`],
          ...extra,
        ],
        body,
      },
      { timeoutMs: 5000 },
    );
  }

  private async end(call: Call, reason: EndReason): Promise<void> {
    if (call.state === "ended") return;
    call.state = "ended";
    call.endReason = reason;
    call.endedAtMs = Date.now();
    clearTimeout(call.hangupTimer);
    clearTimeout(call.sipLostTimer);
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

import type { TwinContext } from "./context.ts";
import { inDialogRequest, newBranch, newCallId, newTag, type Call, type EndReason, type Fork, type ForkOutcome, type Leg } from "./calls.ts";
import { CallerPeer } from "./caller/peer.ts";
import { cseqNumber, header, statusOf, tagOf, type SipMessage } from "./sip/message.ts";
import type { Registration } from "./sip/registrar.ts";
import type { Transactions } from "./sip/transactions.ts";

/** How long a cancelled INVITE still listens for its 487, or for a 200 that crossed the CANCEL. */
const LATE_ANSWER_WINDOW_MS = 10_000;

/** What forking needs from the switch it rings for. */
export interface ForkingHost {
  ctx: TwinContext;
  tx: Transactions;
  /** The leg's Call-ID now names the call (trace, in-dialog requests). */
  adopt(call: Call, callId: string): void;
  /** The winning leg is up, its answer applied. */
  answered(call: Call): void;
  end(call: Call, reason: EndReason): Promise<void>;
}

/** 603 ends the whole call, as RingCentral may; the others only drop their own leg. */
function refusal(status: number): ForkOutcome {
  if (status === 603) return "declined";
  if (status === 486 || status === 600) return "busy";
  if (status === 480 || status === 408) return "no-answer";
  return "failed";
}

/**
 * Parallel forking of inbound calls (docs/twin.md, "Forking"): an inbound call rings every
 * registered instance of its extension at once. Each instance gets its own INVITE, with its own
 * Call-ID (RingCentral is a B2BUA: Call-IDs are per leg) and its own media offer. The first 200
 * wins: it is ACKed, its answer is applied, and every other leg is CANCELled. A 200 that comes
 * after that is ACKed and hung up with BYE.
 */
export class Forking {
  private readonly closedPeers = new WeakSet<CallerPeer>();

  constructor(private readonly host: ForkingHost) {}

  /** One INVITE per registration; resolves once they are all out (not when someone answers). */
  async ring(call: Call, regs: Registration[], opts: { autoAnswer: boolean }): Promise<void> {
    const peers = regs.map(() => new CallerPeer(call.play, call.codecs));
    let offers: string[];
    try {
      offers = await Promise.all(peers.map((p) => p.createOffer()));
    } catch (err) {
      peers.forEach((p) => void this.release(p));
      throw err;
    }
    // The caller may have hung up (or a leg won), and sockets may have closed, while the offers were made.
    const live = call.state === "ringing" && !call.leg ? regs.filter((r) => r.conn.open) : [];
    regs.forEach((reg, i) => (live.includes(reg) ? this.invite(call, reg, peers[i], offers[i], opts.autoAnswer) : void this.release(peers[i])));
    if (live.length === 0 && call.state === "ringing" && !call.leg) await this.host.end(call, "failed");
  }

  /** CANCELs every leg still ringing; resolves when each CANCEL is answered (or after 5 s). */
  async cancelAll(call: Call): Promise<void> {
    await Promise.all(call.forks.filter((f) => f.outcome === "ringing").map((f) => this.cancel(f)));
  }

  /**
   * The instance on `fork` refused the call for everyone (decline, voicemail, forward: MESSAGE
   * Cmd 12/11/10): every leg, its own included, is CANCELled (the WebPhone's decline() waits for
   * that CANCEL), then the call ends.
   */
  async endFrom(call: Call, fork: Fork, outcome: ForkOutcome, reason: EndReason, beforeEnd?: () => void): Promise<void> {
    await this.cancelAll(call);
    fork.outcome = outcome;
    beforeEnd?.();
    await this.host.end(call, reason);
  }

  /** The ringing fork that sent a request with this Call-ID, if any. */
  ringingFork(call: Call, callId: string): Fork | undefined {
    if (call.state !== "ringing" || call.leg) return undefined;
    return call.forks.find((f) => f.leg.callId === callId && f.outcome === "ringing");
  }

  private invite(call: Call, reg: Registration, peer: CallerPeer, offer: string, autoAnswer: boolean): void {
    const { ctx, tx } = this.host;
    const { outboundProxy } = ctx;
    const ext = call.extension;
    const domain = ext.sip.domain;
    const callId = newCallId();
    const localTag = newTag();
    const localAddr = `"${call.callerName}" <sip:${call.from}@${domain}>`;
    const remoteAddr = `<sip:${ext.sip.username}@${domain}>`;
    const base = call.telephonySessionId.slice(2);
    // "Call-Id", not "Call-ID": the WebPhone's decline()/toVoicemail() look for their 200 to our
    // CANCEL under `headers["Call-Id"]` exactly, and its responses keep our spelling.
    const invite: SipMessage = {
      startLine: `INVITE sip:${ext.sip.username}@${outboundProxy};transport=ws SIP/2.0`,
      headers: [
        ["Via", `SIP/2.0/WSS ${outboundProxy};rport;branch=${newBranch()}`],
        ["From", `${localAddr};tag=${localTag}`],
        ["To", remoteAddr],
        ["Call-Id", callId],
        ["CSeq", `${tx.nextCseq()} INVITE`],
        ["Contact", `<sip:${call.from}@${outboundProxy};transport=wss>`],
        ["Content-Type", "application/sdp"],
        ["p-rc-api-ids", `party-id=${call.partyId};session-id=${call.telephonySessionId}`],
        ["p-rc-api-call-info", `callAttributes=reject,send-vm;callerIdName=${call.callerName}`],
        [
          "P-rc",
          `<Msg><Hdr SID="${call.session.sessionId}" Req="{${base.toUpperCase().slice(0, 8)}-TWIN}" From="#1000016@${domain}:5060" To="${ext.sip.username}" Cmd="6"/><Bdy Phn="${call.from}" Nm="${call.callerName}" ToPhn="${call.to}" ToNm="${ext.name}"/></Msg>`,
        ],
        ["Call-Info", `<${callId}@${domain}>;purpose=info${autoAnswer ? ";Answer-After=0" : ""}`],
        ...(autoAnswer ? ([["Alert-Info", "Auto Answer"]] as Array<[string, string]>) : []),
      ],
      body: offer,
    };
    const leg: Leg = { callId, conn: reg.conn, invite, localTag, localAddr, remoteAddr, ourInvite: true, instanceId: reg.instanceId };
    const fork: Fork = { leg, peer, instanceId: reg.instanceId, extensionNumber: reg.extensionNumber, autoAnswer, sentAtMs: Date.now(), outcome: "ringing" };
    call.forks.push(fork);
    call.sipCallIds.push(callId);
    this.host.adopt(call, callId);
    const final = tx.send(reg.conn, invite, {
      onProvisional: (res) => {
        if (statusOf(res) === 180 && fork.outcome === "ringing") ctx.telephony.setStatus(call.telephonySessionId, call.partyId, "Proceeding");
      },
    });
    // The INVITE is out: the call rings. Its outcome (answer, refusal, socket lost) comes later.
    void this.settle(call, fork, final).catch((err) => ctx.log.error({ call: call.id, err: (err as Error).message }, "twin: INVITE outcome failed"));
  }

  private async settle(call: Call, fork: Fork, final: Promise<SipMessage>): Promise<void> {
    let res: SipMessage;
    try {
      res = await final;
    } catch {
      // The socket closed under the ringing INVITE (or a cancelled one stopped listening).
      if (fork.outcome !== "ringing") return;
      this.mark(fork, "failed");
      return this.afterRefusal(call);
    }
    const status = statusOf(res);
    fork.status = status;
    if (status >= 200 && status < 300) return this.answer(call, fork, res);
    this.ackRefusal(fork.leg, res);
    if (fork.outcome !== "ringing") return; // the 487 of a cancelled leg
    const outcome = refusal(status);
    this.mark(fork, outcome);
    this.host.ctx.log.info({ call: call.id, instanceId: fork.instanceId, status, outcome }, "twin: a leg refused the call");
    if (outcome === "declined") {
      await this.cancelAll(call);
      return this.host.end(call, "declined");
    }
    return this.afterRefusal(call);
  }

  private async answer(call: Call, fork: Fork, res: SipMessage): Promise<void> {
    const { ctx, tx } = this.host;
    const leg = fork.leg;
    leg.remoteTag = tagOf(header(res, "To"));
    const user = call.extension.sip.username;
    leg.conn.send(inDialogRequest(leg, "ACK", cseqNumber(leg.invite), ctx.outboundProxy, user));
    if (fork.outcome !== "ringing" || call.state !== "ringing" || call.leg) {
      // Another leg won, or the call is over: this instance answered too late. Hang its dialog up.
      this.mark(fork, "late-answer");
      ctx.log.info({ call: call.id, instanceId: fork.instanceId }, "twin: a leg answered after another won; BYE");
      await tx.send(leg.conn, inDialogRequest(leg, "BYE", tx.nextCseq(), ctx.outboundProxy, user), { timeoutMs: 5000 }).catch(() => {});
      return;
    }
    this.mark(fork, "answered");
    call.leg = leg;
    call.peer = fork.peer;
    ctx.log.info({ call: call.id, instanceId: fork.instanceId, connection: leg.conn.id, legs: call.forks.length }, "twin: a leg won the call");
    void this.cancelAll(call);
    try {
      await fork.peer.acceptAnswer(res.body);
    } catch (err) {
      ctx.log.warn({ call: call.id, err: (err as Error).message }, "twin: the winning leg's answer is not usable");
      await tx.send(leg.conn, inDialogRequest(leg, "BYE", tx.nextCseq(), ctx.outboundProxy, user), { timeoutMs: 5000 }).catch(() => {});
      return this.host.end(call, "failed");
    }
    if (call.state === "ringing") this.host.answered(call);
  }

  /** A leg dropped out: once none rings and none won, the call fails (busy when every refusal was busy). */
  private async afterRefusal(call: Call): Promise<void> {
    if (call.state !== "ringing" || call.leg || call.forks.some((f) => f.outcome === "ringing")) return;
    const refused = call.forks.filter((f) => f.outcome !== "cancelled" && f.outcome !== "late-answer");
    await this.host.end(call, refused.length > 0 && refused.every((f) => f.outcome === "busy") ? "busy" : "failed");
  }

  private async cancel(fork: Fork): Promise<void> {
    const { tx } = this.host;
    const leg = fork.leg;
    this.mark(fork, "cancelled");
    const cseq = cseqNumber(leg.invite);
    const cancel = tx.send(
      leg.conn,
      {
        startLine: leg.invite.startLine.replace(/^INVITE/, "CANCEL"),
        headers: [
          ["Via", header(leg.invite, "Via")!],
          ["From", header(leg.invite, "From")!],
          ["To", header(leg.invite, "To")!],
          ["Call-Id", leg.callId],
          ["CSeq", `${cseq} CANCEL`],
        ],
        body: "",
      },
      { timeoutMs: 5000 },
    );
    tx.expireIn(leg.callId, cseq, LATE_ANSWER_WINDOW_MS);
    await cancel.catch(() => {});
  }

  /** The ACK of a non-2xx final response belongs to the INVITE's transaction: same branch (RFC 3261 §17.1.1.3). */
  private ackRefusal(leg: Leg, res: SipMessage): void {
    leg.conn.send({
      startLine: leg.invite.startLine.replace(/^INVITE/, "ACK"),
      headers: [
        ["Via", header(leg.invite, "Via")!],
        ["From", header(leg.invite, "From")!],
        ["To", header(res, "To") ?? header(leg.invite, "To")!],
        ["Call-Id", leg.callId],
        ["CSeq", `${cseqNumber(leg.invite)} ACK`],
      ],
      body: "",
    });
  }

  private mark(fork: Fork, outcome: ForkOutcome): void {
    fork.outcome = outcome;
    fork.settledAtMs = Date.now();
    if (outcome !== "answered") void this.release(fork.peer);
  }

  private async release(peer: CallerPeer): Promise<void> {
    if (this.closedPeers.has(peer)) return;
    this.closedPeers.add(peer);
    await peer.close();
  }
}

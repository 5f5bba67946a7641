import type { Logger } from "pino";
import type { Call } from "./calls.ts";
import { callIdOf, responseTo, type SipMessage } from "./sip/message.ts";
import type { SipConnection } from "./sip/transport.ts";

/** RingCentral keeps a call whose device went quiet for a while; the twin's guess at how long. */
export const DEFAULT_DIALOG_GRACE_MS = 30_000;

/**
 * What happens to answered calls when the page's SIP socket drops (docs/twin.md, "Faults"):
 * the call and its media stay up; a request for the dialog on a new socket (the WebPhone's
 * `reInvite()` after it reconnects) moves the dialog there; if none comes within the grace
 * period the call is given up.
 */
export class DialogRecovery {
  constructor(
    private readonly log: Logger,
    /** Gives up on a call nobody picked up again: hang up as best it can, end it `failed`. */
    private readonly expire: (call: Call) => void,
    public graceMs = DEFAULT_DIALOG_GRACE_MS,
  ) {}

  /** The call's SIP socket closed under it. */
  lost(call: Call): void {
    call.sipLostAtMs = Date.now();
    clearTimeout(call.sipLostTimer);
    call.sipLostTimer = setTimeout(() => {
      this.log.info({ call: call.id, graceMs: this.graceMs }, "twin: dialog not recovered in time");
      this.expire(call);
    }, this.graceMs);
    this.log.info({ call: call.id, conn: call.leg?.conn.id, graceMs: this.graceMs }, "twin: call's SIP socket closed; keeping the call");
  }

  /** A request of a live dialog on another connection: the dialog now lives there. */
  rebind(call: Call | undefined, conn: SipConnection, req: SipMessage): void {
    const leg = call?.leg;
    if (!call || !leg || call.state === "ended" || leg.callId !== callIdOf(req) || leg.conn === conn) return;
    this.log.info({ call: call.id, from: leg.conn.id, to: conn.id }, "twin: dialog moved to a new SIP connection");
    leg.conn = conn;
    call.sipRebinds++;
    this.forget(call);
  }

  forget(call: Call): void {
    call.sipLostAtMs = undefined;
    clearTimeout(call.sipLostTimer);
    call.sipLostTimer = undefined;
  }

  /**
   * A re-INVITE in an answered dialog. New ICE credentials (the WebPhone's `reInvite()`, which
   * offers with `iceRestart`) get a real answer from the caller's peer. Anything else (hold and
   * unhold from `toggleReceive()`, which never applies our body) gets the current local SDP, as
   * before.
   */
  async answerReInvite(call: Call, req: SipMessage): Promise<SipMessage> {
    const peer = call.peer;
    const tag = call.leg?.localTag;
    const sdp = (body: string) => responseTo(req, 200, "OK", [["Content-Type", "application/sdp"]], body, tag);
    if (!peer || !req.body || !peer.isIceRestart(req.body)) return sdp(peer?.pc.localDescription?.sdp ?? "");
    try {
      const answer = await peer.renegotiate(req.body);
      this.log.info({ call: call.id }, "twin: re-INVITE with ICE restart answered");
      return sdp(answer);
    } catch (err) {
      this.log.warn({ call: call.id, err: (err as Error).message }, "twin: re-INVITE offer not acceptable");
      return responseTo(req, 488, "Not Acceptable Here", [], "", tag);
    }
  }
}

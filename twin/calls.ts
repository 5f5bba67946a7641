import { randomBytes, randomUUID } from "node:crypto";
import type { TwinAccount, TwinExtension } from "./account.ts";
import type { TelephonySession } from "./telephony.ts";
import { CallerPeer, type CallerCodec } from "./caller/peer.ts";
import type { SentDigit } from "./caller/dtmf.ts";
import type { SipMessage } from "./sip/message.ts";
import type { Registration } from "./sip/registrar.ts";
import type { SipConnection } from "./sip/transport.ts";

export type CallState = "ringing" | "answered" | "ended";
export type EndReason =
  | "caller-hangup"
  | "agent-hangup"
  | "cancelled"
  | "declined"
  | "voicemail"
  | "forwarded"
  | "transferred"
  | "busy"
  | "failed"
  | "no-device";

export interface TraceEntry {
  atMs: number;
  dir: "in" | "out";
  /** Start line; the whole message is kept in `raw`. */
  line: string;
  raw: string;
}

/** How the far end behaves when the page dials it (POST /twin/callees). */
export interface CalleeBehaviour {
  play: string;
  /** Answer with 486 Busy Here instead of connecting. */
  busy?: boolean;
  hangupAfterMs?: number;
  codecs?: CallerCodec[];
}

const MAX_TRACE = 400;

/**
 * What became of one INVITE of an inbound call (a fork leg, docs/twin.md "Forking"):
 * `late-answer` is a 200 that came after another leg had won (ACKed, then BYE).
 */
export type ForkOutcome = "ringing" | "answered" | "cancelled" | "declined" | "busy" | "no-answer" | "failed" | "late-answer" | "voicemail" | "forwarded";

/** One INVITE the twin sent to one registered instance, with its own Call-ID and its own media offer. */
export interface Fork {
  leg: Leg;
  /** The caller's peer that made this leg's offer; the winner's becomes the call's. */
  peer: CallerPeer;
  instanceId: string;
  extensionNumber: string;
  autoAnswer: boolean;
  sentAtMs: number;
  outcome: ForkOutcome;
  /** The final SIP status the instance answered, if any. */
  status?: number;
  settledAtMs?: number;
}

/** One conversation as the twin sees it: SIP legs to the page, the caller's media peer, telephony ids. */
export class Call {
  readonly id: string;
  state: CallState = "ringing";
  endReason: EndReason | undefined;
  readonly createdAtMs = Date.now();
  answeredAtMs: number | undefined;
  endedAtMs: number | undefined;
  /** Every SIP Call-ID this call used (Call Control answer starts a new leg). */
  readonly sipCallIds: string[] = [];
  readonly trace: TraceEntry[] = [];
  peer: CallerPeer | undefined;
  /** The leg the page is on now: for an inbound call, the fork that won (undefined while ringing). */
  leg: Leg | undefined;
  /** Every INVITE sent for an inbound call, one per registered instance, and those of a Call Control answer. */
  readonly forks: Fork[] = [];
  transferTarget: string | undefined;
  /** The caller's display name on every INVITE of the call. */
  callerName = "TWIN CALLER";
  recordingActive = false;
  readonly infoCommands: string[] = [];
  /** DTMF digits the caller sent (POST /twin/calls/:id/dtmf), with when each went out. */
  readonly dtmf: SentDigit[] = [];
  hangupTimer: NodeJS.Timeout | undefined;
  /** When the page's SIP socket under this call closed; cleared when the dialog moves to a new one. */
  sipLostAtMs: number | undefined;
  /** Ends the call if the dialog is not picked up on a new socket in time (Switchboard.dialogGraceMs). */
  sipLostTimer: NodeJS.Timeout | undefined;
  /** Times the dialog moved to another SIP connection (a request on it arrived there). */
  sipRebinds = 0;

  constructor(
    seq: number,
    /** The extension whose party this call is. */
    readonly extension: TwinExtension,
    readonly direction: "inbound" | "outbound",
    readonly from: string,
    readonly to: string,
    readonly play: string,
    readonly codecs: CallerCodec[],
    readonly session: TelephonySession,
    readonly hangupAfterMs?: number,
  ) {
    this.id = `call-${seq}`;
  }

  get telephonySessionId(): string {
    return this.session.telephonySessionId;
  }

  /** The party on the extension's side (the one Call Control and webhooks talk about). */
  get partyId(): string {
    return this.session.parties[0].id;
  }

  record(dir: "in" | "out", raw: string, atMs = Date.now()): void {
    if (this.trace.length >= MAX_TRACE) this.trace.shift();
    const end = raw.indexOf("\r\n");
    this.trace.push({ atMs, dir, line: end === -1 ? raw : raw.slice(0, end), raw });
  }

  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      direction: this.direction,
      from: this.from,
      to: this.to,
      state: this.state,
      endReason: this.endReason ?? null,
      telephonySessionId: this.telephonySessionId,
      partyId: this.partyId,
      sipCallIds: this.sipCallIds,
      createdAtMs: this.createdAtMs,
      answeredAtMs: this.answeredAtMs ?? null,
      endedAtMs: this.endedAtMs ?? null,
      codec: this.peer?.negotiatedCodec ?? null,
      transferTarget: this.transferTarget ?? null,
      recordingActive: this.recordingActive,
      infoCommands: this.infoCommands,
      caller: {
        play: this.play,
        framesSent: this.peer?.framesSent ?? 0,
        connectedAtMs: this.peer?.connectedAtMs ?? null,
      },
      heard: this.peer?.recorder?.stats() ?? null,
      dtmf: this.dtmf.map((d) => ({ ...d })),
      dtmfHeard: this.peer?.heardDtmf.digits.map((d) => ({ ...d })) ?? [],
      sip: {
        connectionId: this.leg?.conn.id ?? null,
        connectionOpen: this.leg?.conn.open ?? null,
        lostAtMs: this.sipLostAtMs ?? null,
        rebinds: this.sipRebinds,
      },
      media: this.peer?.mediaJSON() ?? null,
      legs: this.forks.map((f) => ({
        sipCallId: f.leg.callId,
        connectionId: f.leg.conn.id,
        instanceId: f.instanceId,
        extensionNumber: f.extensionNumber,
        autoAnswer: f.autoAnswer,
        sentAtMs: f.sentAtMs,
        outcome: f.outcome,
        status: f.status ?? null,
        settledAtMs: f.settledAtMs ?? null,
      })),
      trace: this.trace.map(({ atMs, dir, line }) => ({ atMs, dir, line })),
    };
  }
}

/** One SIP dialog between the twin and the page. */
export interface Leg {
  callId: string;
  conn: SipConnection;
  /** The INVITE that opened it (twin's for inbound, page's for outbound). */
  invite: SipMessage;
  /** Our tag and theirs. */
  localTag: string;
  remoteTag?: string;
  /** Local and remote addresses as they appear in From/To of the INVITE. */
  localAddr: string;
  remoteAddr: string;
  ourInvite: boolean;
  /** The registered instance at the other end, when known: in-dialog requests follow it to a new socket. */
  instanceId?: string;
}

/** A request inside the leg's dialog, from the twin's side (BYE, INFO, the ACK of a 2xx). */
export function inDialogRequest(leg: Leg, method: string, cseq: number, proxy: string, user: string, extra: Array<[string, string]> = [], body = ""): SipMessage {
  const local = `${leg.localAddr.replace(/;tag=[^;]*/, "")};tag=${leg.localTag}`;
  const remote = leg.remoteTag ? `${leg.remoteAddr.replace(/;tag=[^;]*/, "")};tag=${leg.remoteTag}` : leg.remoteAddr;
  return {
    startLine: `${method} sip:${user}@${proxy};transport=ws SIP/2.0`,
    headers: [
      ["Via", `SIP/2.0/WSS ${proxy};rport;branch=${newBranch()}`],
      ["From", local],
      ["To", remote],
      ["Call-Id", leg.callId],
      ["CSeq", `${cseq} ${method}`],
      ...extra,
    ],
    body,
  };
}

export const newTag = (): string => randomBytes(6).toString("hex");
export const newBranch = (): string => `z9hG4bK${randomBytes(8).toString("hex")}`;
export const newCallId = (): string => randomUUID();

export function telephonyParties(account: TwinAccount, e: TwinExtension, direction: "inbound" | "outbound", from: string, to: string) {
  const ext = { phoneNumber: e.phoneNumber, name: e.name, extensionId: e.extensionId };
  return [
    {
      accountId: account.accountId,
      extensionId: e.extensionId,
      direction: direction === "inbound" ? ("Inbound" as const) : ("Outbound" as const),
      from: direction === "inbound" ? { phoneNumber: from } : ext,
      to: direction === "inbound" ? { ...ext, phoneNumber: to || e.phoneNumber } : { phoneNumber: to },
    },
  ];
}

export type { Registration };

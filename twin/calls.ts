import { randomBytes, randomUUID } from "node:crypto";
import type { TwinContext } from "./context.ts";
import type { TelephonySession } from "./telephony.ts";
import { CallerPeer, type CallerCodec } from "./caller/peer.ts";
import type { SentDigit } from "./caller/dtmf.ts";
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
  /** The leg the page is on now. */
  leg: Leg | undefined;
  transferTarget: string | undefined;
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
      sip: {
        connectionId: this.leg?.conn.id ?? null,
        connectionOpen: this.leg?.conn.open ?? null,
        lostAtMs: this.sipLostAtMs ?? null,
        rebinds: this.sipRebinds,
      },
      media: this.peer?.mediaJSON() ?? null,
      trace: this.trace.map(({ atMs, dir, line }) => ({ atMs, dir, line })),
    };
  }
}

/** One SIP dialog between the twin and the page. */
export interface Leg {
  callId: string;
  conn: SipConnection;
  /** The INVITE that opened it (twin's for inbound, page's for outbound). */
  invite: import("./sip/message.ts").SipMessage;
  /** Our tag and theirs. */
  localTag: string;
  remoteTag?: string;
  /** Local and remote addresses as they appear in From/To of the INVITE. */
  localAddr: string;
  remoteAddr: string;
  ourInvite: boolean;
}

export const newTag = (): string => randomBytes(6).toString("hex");
export const newBranch = (): string => `z9hG4bK${randomBytes(8).toString("hex")}`;
export const newCallId = (): string => randomUUID();

export function telephonyParties(ctx: TwinContext, direction: "inbound" | "outbound", from: string, to: string) {
  const a = ctx.account;
  const ext = { phoneNumber: a.phoneNumber, name: a.name, extensionId: a.extensionId };
  return [
    {
      accountId: a.accountId,
      extensionId: a.extensionId,
      direction: direction === "inbound" ? ("Inbound" as const) : ("Outbound" as const),
      from: direction === "inbound" ? { phoneNumber: from } : ext,
      to: direction === "inbound" ? { ...ext, phoneNumber: to || a.phoneNumber } : { phoneNumber: to },
    },
  ];
}

export type { Registration };

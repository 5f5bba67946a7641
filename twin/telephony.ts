import { EventEmitter } from "node:events";
import { randomBytes } from "node:crypto";

/**
 * The twin's telephony sessions: the one model that SIP calls update and that REST
 * (Call Control, GET session) and webhook deliveries read. Shapes follow RingCentral's
 * `telephony/sessions` event (docs/WIRE.md §5.4).
 */
export type PartyStatusCode = "Setup" | "Proceeding" | "Answered" | "Hold" | "Disconnected" | "Gone" | "VoiceMail";

export interface PartyEndpoint {
  phoneNumber: string;
  name?: string;
  extensionId?: string;
}

export interface TelephonyParty {
  id: string;
  accountId?: string;
  extensionId?: string;
  direction: "Inbound" | "Outbound";
  from: PartyEndpoint;
  to: PartyEndpoint;
  status: { code: PartyStatusCode; reason?: string; rcc: boolean };
  muted: boolean;
  standAlone: boolean;
  missedCall: boolean;
  park: Record<string, never>;
}

export interface TelephonySession {
  telephonySessionId: string;
  /** The legacy numeric id RingCentral also sends. */
  sessionId: string;
  serverId: string;
  origin: { type: "Call" };
  sequence: number;
  eventTime: string;
  parties: TelephonyParty[];
}

/** The body of one telephony/sessions event, as delivered in a webhook's `body`. */
export type TelephonySessionEventBody = Omit<TelephonySession, never>;

/**
 * What Call Control's answer asks of the SIP side: move the ringing call onto the device
 * (CANCEL the ringing INVITE, send a new auto-answer INVITE). Resolves once the new INVITE is sent.
 */
export type AnswerOnDevice = (session: TelephonySession, party: TelephonyParty, deviceId: string) => Promise<void>;

export interface TelephonyEvents {
  /** Emitted after every change, with a snapshot (sequence already raised). */
  event: [TelephonySessionEventBody];
}

/** RingCentral's id shape: `s-<hex>z<hex>z<hex>0000`; party ids add `-<one digit>`. */
function newTelephonySessionId(): string {
  const hex = (n: number) => randomBytes(n).toString("hex");
  return `s-a0${hex(5)}z${hex(5)}z${hex(4)}0000`;
}

let numericSessionId = 1160265700000;

export class Telephony extends EventEmitter<TelephonyEvents> {
  private readonly sessions = new Map<string, TelephonySession>();
  /** Set by the SIP side; Call Control answer calls it. */
  answerOnDevice: AnswerOnDevice | undefined;

  create(parties: Array<Omit<TelephonyParty, "id" | "status" | "muted" | "standAlone" | "missedCall" | "park">>): TelephonySession {
    const telephonySessionId = newTelephonySessionId();
    const base = telephonySessionId.slice(2);
    const session: TelephonySession = {
      telephonySessionId,
      sessionId: String(++numericSessionId),
      serverId: "127.0.0.1.TWIN",
      origin: { type: "Call" },
      sequence: 0,
      eventTime: new Date().toISOString(),
      parties: parties.map((p, i) => ({
        ...p,
        id: `p-${base}-${i + 1}`,
        status: { code: "Setup", rcc: false },
        muted: false,
        standAlone: false,
        missedCall: false,
        park: {},
      })),
    };
    this.sessions.set(telephonySessionId, session);
    this.publish(session);
    return session;
  }

  get(telephonySessionId: string): TelephonySession | undefined {
    return this.sessions.get(telephonySessionId);
  }

  party(telephonySessionId: string, partyId: string): TelephonyParty | undefined {
    return this.sessions.get(telephonySessionId)?.parties.find((p) => p.id === partyId);
  }

  setStatus(telephonySessionId: string, partyId: string, code: PartyStatusCode, reason?: string): void {
    const session = this.sessions.get(telephonySessionId);
    const party = session?.parties.find((p) => p.id === partyId);
    if (!session || !party) return;
    if (party.status.code === code) return;
    party.status = reason ? { code, reason, rcc: false } : { code, rcc: false };
    if (code === "Disconnected" && party.direction === "Inbound" && reason === "Cancelled") party.missedCall = true;
    this.publish(session);
  }

  /** Ended sessions stay readable (GET) but stop changing. */
  list(): TelephonySession[] {
    return [...this.sessions.values()];
  }

  private publish(session: TelephonySession): void {
    session.sequence += 1;
    session.eventTime = new Date().toISOString();
    this.emit("event", structuredClone(session));
  }
}

import type { Logger } from "pino";
import type { AnswerRules } from "./answer-rules.ts";
import type { Call } from "./calls.ts";
import type { TelephonyEvent } from "./webhooks.ts";

/** How long an approved call may take to ring here before the host fetches it with Call Control. */
const FETCH_AFTER_MS = 1500;
/** Sessions remembered per verdict: a session that never reports its end must not be kept forever. */
const REMEMBER_SESSIONS = 10_000;

/** Sets a key as the newest, dropping the oldest beyond the bound. */
function remember(map: Map<string, string>, key: string, value: string): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > REMEMBER_SESSIONS) map.delete(map.keys().next().value!);
}

/** What webhook answering needs from the host. */
export interface AnsweringHost {
  extensionId(): string | undefined;
  callFor(telephonySessionId: string): Call | undefined;
  /** Calls answered or being answered (ringing ones do not count against the cap). */
  busyCalls(): number;
  answer(call: Call): Promise<void>;
  refuse(call: Call, reason: string): Promise<void>;
  /** Call Control answer with this host's device id. */
  fetch(telephonySessionId: string, partyId: string): Promise<void>;
  stopping(): boolean;
}

export type Decision = { approved: true } | { approved: false; reason: string } | undefined;

/**
 * ANSWER_MODE=webhook: RingCentral's telephony events decide. A ringing inbound party of this
 * extension is checked against the rules once; approved calls are answered when they ring here,
 * or fetched with Call Control when they ring only elsewhere.
 */
export class WebhookAnswering {
  /** telephonySessionId → partyId (approved) or reason (refused); cleared when the session ends. */
  private readonly approved = new Map<string, string>();
  private readonly refused = new Map<string, string>();

  constructor(
    private readonly host: AnsweringHost,
    private readonly rules: AnswerRules,
    private readonly log: Logger,
  ) {}

  /** What the webhook decided for a session that now rings here (undefined: not yet). */
  decision(telephonySessionId: string | undefined): Decision {
    if (!telephonySessionId) return undefined;
    if (this.approved.has(telephonySessionId)) return { approved: true };
    const reason = this.refused.get(telephonySessionId);
    return reason === undefined ? undefined : { approved: false, reason };
  }

  onEvent(event: TelephonyEvent): void {
    const ext = this.host.extensionId();
    const id = event.telephonySessionId;
    for (const p of event.parties) {
      if (p.direction !== "Inbound" || (p.extensionId !== ext && p.to?.extensionId !== ext)) continue;
      if (p.status.code === "Disconnected" || p.status.code === "Gone") {
        this.approved.delete(id);
        this.refused.delete(id);
        continue;
      }
      if ((p.status.code !== "Setup" && p.status.code !== "Proceeding") || this.decision(id)) continue;
      const from = p.from?.phoneNumber ?? "";
      const verdict = this.rules.check(from, this.host.busyCalls());
      const ringing = this.host.callFor(id);
      if (!verdict.answer) {
        remember(this.refused, id, verdict.reason);
        if (ringing) void this.host.refuse(ringing, verdict.reason);
        else this.log.info({ telephonySessionId: id, from, reason: verdict.reason }, "call: refused by the rules; left to ring elsewhere");
        continue;
      }
      remember(this.approved, id, p.id);
      this.log.info({ telephonySessionId: id, partyId: p.id, from }, "webhook: call approved");
      if (ringing?.state === "ringing") void this.host.answer(ringing).catch((err) => this.log.error({ err: (err as Error).message }, "call: answering failed"));
      else this.fetchLater(id, p.id);
    }
  }

  /** Not ringing here (yet): give the INVITE a moment, then bring the call here. */
  private fetchLater(telephonySessionId: string, partyId: string): void {
    setTimeout(() => {
      if (this.host.stopping() || !this.approved.has(telephonySessionId) || this.host.callFor(telephonySessionId)) return;
      void this.host.fetch(telephonySessionId, partyId).catch((err) => this.log.error({ telephonySessionId, err: (err as Error).message }, "call control: answer failed"));
    }, FETCH_AFTER_MS).unref();
  }
}

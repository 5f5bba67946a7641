import type { Logger } from "pino";
import type { AnswerRules } from "./answer-rules.ts";
import type { Call } from "./calls.ts";
import type { TelephonyEvent } from "./webhooks.ts";

/** How long an approved call may take to ring here before the host fetches it with Call Control. */
const FETCH_AFTER_MS = 1500;
/**
 * How long the Call Control answer is retried: well inside the ring window (RingCentral rings an
 * extension for 20 s or more before voicemail takes it), so a late answer never races voicemail.
 */
export const FETCH_WITHIN_MS = 8000;
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
  /** Call Control answer with this host's device id; `signal` ends its retries. */
  fetch(telephonySessionId: string, partyId: string, signal: AbortSignal): Promise<void>;
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
  /** Call Control answers under way, aborted when their session ends. */
  private readonly fetching = new Map<string, AbortController>();

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
        this.fetching.get(id)?.abort();
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
      const ended = new AbortController();
      this.fetching.set(telephonySessionId, ended);
      // A timer of our own, not AbortSignal.timeout(): inside AbortSignal.any() Node 20 may
      // garbage-collect a timeout signal before it fires (nodejs/node#57736).
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(new Error(`no answer within ${FETCH_WITHIN_MS} ms`)), FETCH_WITHIN_MS);
      void this.host
        .fetch(telephonySessionId, partyId, AbortSignal.any([ended.signal, deadline.signal]))
        .catch((err) => {
          if (!ended.signal.aborted) this.log.error({ telephonySessionId, err: (err as Error).message }, "call control: answer failed; the call rings on where it was");
        })
        .finally(() => {
          clearTimeout(timer);
          this.fetching.delete(telephonySessionId);
        });
    }, FETCH_AFTER_MS).unref();
  }
}

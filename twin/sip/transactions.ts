import { callIdOf, cseqNumber, isResponse, methodOf, statusOf, type SipMessage } from "./message.ts";
import type { SipConnection } from "./transport.ts";

const keyOf = (callId: string, cseq: number, method: string) => `${callId} ${cseq} ${method}`;

interface Pending {
  conn: SipConnection;
  onProvisional?: (res: SipMessage) => void;
  resolve(res: SipMessage): void;
  reject(err: Error): void;
  timer?: NodeJS.Timeout;
}

/**
 * Requests the twin sends (INVITE, BYE, CANCEL, INFO, MESSAGE) and their responses,
 * matched by Call-ID and CSeq (number and method: a CANCEL shares its INVITE's number). CSeq numbers start high, as RingCentral's do, so they
 * never meet the WebPhone's own counter.
 */
export class Transactions {
  private readonly pending = new Map<string, Pending>();
  private cseq = 218_000_000;

  nextCseq(): number {
    return ++this.cseq;
  }

  send(conn: SipConnection, req: SipMessage, opts: { timeoutMs?: number; onProvisional?: (res: SipMessage) => void } = {}): Promise<SipMessage> {
    const key = keyOf(callIdOf(req), cseqNumber(req), methodOf(req));
    return new Promise<SipMessage>((resolve, reject) => {
      const entry: Pending = { conn, onProvisional: opts.onProvisional, resolve, reject };
      if (opts.timeoutMs) {
        entry.timer = setTimeout(() => {
          this.pending.delete(key);
          reject(new Error(`no final response to ${req.startLine.split(" ")[0]} within ${opts.timeoutMs} ms`));
        }, opts.timeoutMs);
      }
      this.pending.set(key, entry);
      conn.send(req);
    });
  }

  /** Returns true when the message was a response to one of our requests. */
  onResponse(res: SipMessage): boolean {
    if (!isResponse(res)) return false;
    const key = keyOf(callIdOf(res), cseqNumber(res), methodOf(res));
    const entry = this.pending.get(key);
    if (!entry) return false;
    const status = statusOf(res);
    if (status < 200) {
      entry.onProvisional?.(res);
      return true;
    }
    this.pending.delete(key);
    clearTimeout(entry.timer);
    entry.resolve(res);
    return true;
  }

  /** Stop waiting for a final response that will never come (a cancelled INVITE). */
  abandon(callId: string, cseq: number, method = "INVITE"): void {
    const key = keyOf(callId, cseq, method);
    const entry = this.pending.get(key);
    if (!entry) return;
    this.pending.delete(key);
    clearTimeout(entry.timer);
    entry.reject(new Error("abandoned"));
  }

  /**
   * Keep waiting for a final response only `ms` longer, then stop: a cancelled INVITE may still
   * get its 487, or a 200 that crossed the CANCEL. The WebPhone sends neither, so this bounds the wait.
   */
  expireIn(callId: string, cseq: number, ms: number): void {
    const entry = this.pending.get(keyOf(callId, cseq, "INVITE"));
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => this.abandon(callId, cseq), ms);
    entry.timer.unref();
  }

  dropConnection(conn: SipConnection): void {
    for (const [key, entry] of this.pending) {
      if (entry.conn !== conn) continue;
      this.pending.delete(key);
      clearTimeout(entry.timer);
      entry.reject(new Error("SIP connection closed"));
    }
  }
}

/**
 * A hand-rolled SIP-over-WSS client for tests that drive the twin without Chrome: it registers
 * with RingCentral's digest (docs/WIRE.md §1.3), answers INVITEs and sends in-dialog requests,
 * and reports how its socket closed.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { WebSocket } from "ws";
import { header, parseSip, responseTo, serializeSip, type SipMessage } from "../../twin/sip/message.ts";

export interface SipInfo {
  username: string;
  password: string;
  authorizationId: string;
  domain: string;
}

export interface Closed {
  code: number;
  reason: string;
}

const md5 = (s: string) => createHash("md5").update(s).digest("hex");


/** Opens the socket; rejects with the upgrade's failure (e.g. `Unexpected server response: 503`). */
export async function rawSipClient(url: string) {
  const ws = new WebSocket(url, "sip", { rejectUnauthorized: false });
  const closed = new Promise<Closed>((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  ws.on("error", () => {}); // a terminated socket errors after close; the test reads `closed`
  const inbox: SipMessage[] = [];
  const waiters: Array<{ match: (m: SipMessage) => boolean; resolve: (m: SipMessage) => void }> = [];
  ws.on("message", (data) => {
    const m = parseSip(data.toString());
    const i = waiters.findIndex((w) => w.match(m));
    if (i === -1) return void inbox.push(m);
    waiters.splice(i, 1)[0].resolve(m);
  });

  /** The next message that matches (by default any), buffered or yet to come. */
  function next(match: (m: SipMessage) => boolean = () => true, timeoutMs = 5000): Promise<SipMessage> {
    const i = inbox.findIndex(match);
    if (i !== -1) return Promise.resolve(inbox.splice(i, 1)[0]);
    return new Promise<SipMessage>((resolve, reject) => {
      const waiter = {
        match,
        resolve: (m: SipMessage) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error(`no SIP message within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.push(waiter);
    });
  }
  /** Resolves with the message if one matching comes within `ms`, else undefined. */
  const maybeNext = (match: (m: SipMessage) => boolean, ms: number) => next(match, ms).catch(() => undefined);

  const send = (m: SipMessage | string) => ws.send(typeof m === "string" ? m : serializeSip(m));
  let cseq = 1000;
  const callId = randomUUID();
  const tag = randomBytes(4).toString("hex");
  const isResponseTo = (n: number) => (m: SipMessage) => m.startLine.startsWith("SIP/2.0 ") && (header(m, "CSeq") ?? "").startsWith(`${n} `);

  /** Sends one REGISTER (no auth); resolves with the response. */
  async function registerOnce(info: SipInfo, instanceId: string, extra: string[] = [], expiresS = 60, timeoutMs = 5000): Promise<SipMessage> {
    const n = ++cseq;
    const lines = [
      `REGISTER sip:${info.domain} SIP/2.0`,
      `Via: SIP/2.0/WSS raw.invalid;branch=z9hG4bK-${randomBytes(6).toString("hex")}`,
      "Max-Forwards: 70",
      `From: <sip:${info.username}@${info.domain}>;tag=${tag}`,
      `To: <sip:${info.username}@${info.domain}>`,
      `Call-ID: ${callId}`,
      `CSeq: ${n} REGISTER`,
      `Contact: <sip:raw@raw.invalid;transport=ws>;+sip.instance="<urn:uuid:${instanceId}>";expires=${expiresS}`,
      ...extra,
      "Content-Length: 0",
    ];
    send(`${lines.join("\r\n")}\r\n\r\n`);
    return next(isResponseTo(n), timeoutMs);
  }

  /** REGISTER with RingCentral's digest; returns the final response (the 401 is answered, anything else returned). */
  async function register(info: SipInfo, opts: { password?: string; instanceId: string; expiresS?: number }): Promise<SipMessage> {
    const challenge = await registerOnce(info, opts.instanceId, [], opts.expiresS);
    if (!challenge.startLine.startsWith("SIP/2.0 401 ")) return challenge;
    const nonce = header(challenge, "WWW-Authenticate")!.match(/nonce="([^"]+)"/)![1];
    const ha1 = md5(`${info.authorizationId}:${info.domain}:${opts.password ?? info.password}`);
    const ha2 = md5(`REGISTER:sip:${info.domain}`);
    const response = md5(`${ha1}:${nonce}:${ha2}`);
    const auth = `Authorization: Digest algorithm="MD5", username="${info.authorizationId}", realm="${info.domain}", nonce="${nonce}", uri="sip:${info.domain}", response="${response}"`;
    return registerOnce(info, opts.instanceId, [auth], opts.expiresS);
  }

  /** Answers a request (e.g. 200 to an INVITE with an SDP answer). */
  function reply(req: SipMessage, status: number, reason: string, extra: Array<[string, string]> = [], body = "", toTag?: string): void {
    send(responseTo(req, status, reason, extra, body, toTag));
  }

  /** Sends a request and waits for its final response (provisional ones are skipped). */
  async function request(req: SipMessage, timeoutMs = 5000): Promise<SipMessage> {
    const n = Number((header(req, "CSeq") ?? "").split(" ")[0]);
    send(req);
    return next((m) => isResponseTo(n)(m) && !/^SIP\/2\.0 1\d\d /.test(m.startLine), timeoutMs);
  }

  return {
    ws,
    closed,
    next,
    maybeNext,
    send,
    register,
    registerOnce,
    reply,
    request,
    nextCseq: () => ++cseq,
    close: () => ws.close(),
  };
}

export type RawSipClient = Awaited<ReturnType<typeof rawSipClient>>;

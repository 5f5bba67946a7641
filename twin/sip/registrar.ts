import type { Logger } from "pino";
import type { TwinAccount } from "../account.ts";
import type { SipFaults } from "../faults/sip-faults.ts";
import { digestResponse, newNonce, parseDigest } from "./digest.ts";
import { header, responseTo, type SipMessage } from "./message.ts";
import type { SipConnection } from "./transport.ts";

export interface Registration {
  extensionId: string;
  extensionNumber: string;
  username: string;
  authorizationId: string;
  instanceId: string;
  contact: string;
  conn: SipConnection;
  registeredAtMs: number;
  expiresAtMs: number;
  userAgent?: string;
}

/** RingCentral allows a handful of WebPhone instances per extension, then answers 603. */
const MAX_INSTANCES = 5;
const MAX_NONCES = 1000;

/** REGISTER with RingCentral's digest dance (docs/WIRE.md §1.3). */
export class Registrar {
  private readonly registrations = new Map<string, Registration>();
  private readonly nonces = new Set<string>();

  constructor(
    private readonly account: TwinAccount,
    private readonly grantExpiresS: number,
    private readonly log: Logger,
    private readonly faults?: SipFaults,
  ) {}

  /** The response to a REGISTER, or undefined when a fault swallows it. */
  handle(conn: SipConnection, req: SipMessage): SipMessage | undefined {
    const sip = this.account.sip;
    const auth = parseDigest(header(req, "Authorization"));
    const fault = this.faults?.onRegister(auth !== undefined);
    if (fault?.kind === "ignore") {
      this.log.info({ conn: conn.id }, "sip: REGISTER swallowed (fault)");
      return undefined;
    }
    if (fault?.kind === "reject") {
      this.log.info({ conn: conn.id, status: fault.status }, "sip: REGISTER rejected (fault)");
      return responseTo(req, fault.status, fault.reason, fault.retryAfterS ? [["Retry-After", String(fault.retryAfterS)]] : []);
    }
    if (!auth || !auth.nonce || !this.nonces.has(auth.nonce)) {
      const nonce = newNonce();
      this.nonces.add(nonce);
      if (this.nonces.size > MAX_NONCES) this.nonces.delete(this.nonces.values().next().value!);
      return responseTo(req, 401, "Unauthorized", [["WWW-Authenticate", `Digest realm="${sip.domain}", nonce="${nonce}", algorithm=MD5`]]);
    }
    const expected = digestResponse({
      username: sip.authorizationId,
      realm: sip.domain,
      password: sip.password,
      method: "REGISTER",
      uri: auth.uri ?? "",
      nonce: auth.nonce,
    });
    if (auth.username !== sip.authorizationId || auth.response !== expected) {
      this.log.warn({ conn: conn.id, username: auth.username }, "sip: REGISTER with wrong credentials");
      return responseTo(req, 403, "Forbidden");
    }
    const contact = header(req, "Contact") ?? "";
    const instanceId = contact.match(/\+sip\.instance="<urn:uuid:([^>]+)>"/)?.[1] ?? contact;
    const requested = Number(contact.match(/;expires=(\d+)/)?.[1] ?? header(req, "Expires") ?? this.grantExpiresS);
    if (requested === 0) {
      this.registrations.delete(instanceId);
      this.log.info({ conn: conn.id, instanceId }, "sip: unregistered");
      return responseTo(req, 200, "OK");
    }
    const known = this.registrations.has(instanceId);
    if (!known && this.active().length >= MAX_INSTANCES) {
      this.log.warn({ conn: conn.id, instanceId }, "sip: too many contacts");
      return responseTo(req, 603, "Too Many Contacts");
    }
    const expiresS = Math.min(requested, this.grantExpiresS);
    const now = Date.now();
    this.registrations.set(instanceId, {
      extensionId: this.account.extensionId,
      extensionNumber: this.account.extensionNumber,
      username: sip.username,
      authorizationId: sip.authorizationId,
      instanceId,
      contact,
      conn,
      registeredAtMs: known ? this.registrations.get(instanceId)!.registeredAtMs : now,
      expiresAtMs: now + expiresS * 1000,
      userAgent: header(req, "User-Agent"),
    });
    if (!known) this.log.info({ conn: conn.id, instanceId, expiresS }, "sip: registered");
    const bare = contact.replace(/;expires=\d+/, "");
    return responseTo(req, 200, "OK", [["Contact", `${bare};expires=${expiresS}`]]);
  }

  /** Live registrations, newest first. */
  active(): Registration[] {
    const now = Date.now();
    return [...this.registrations.values()]
      .filter((r) => r.expiresAtMs > now && r.conn.open)
      .sort((a, b) => b.registeredAtMs - a.registeredAtMs);
  }

  /** A device id from sip-provision names the registrations made with its credentials. */
  forDevice(deviceId: string): Registration | undefined {
    return deviceId === this.account.deviceId ? this.active()[0] : undefined;
  }

  dropConnection(conn: SipConnection): void {
    for (const [id, r] of this.registrations) if (r.conn === conn) this.registrations.delete(id);
  }
}

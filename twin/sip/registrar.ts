import type { Logger } from "pino";
import type { TwinAccount, TwinExtension } from "../account.ts";
import type { SipFaults } from "../faults/sip-faults.ts";
import { digestResponse, newNonce, parseDigest } from "./digest.ts";
import { header, responseTo, type SipMessage } from "./message.ts";
import type { SipConnection } from "./transport.ts";

export interface Registration {
  extensionId: string;
  extensionNumber: string;
  username: string;
  authorizationId: string;
  /** The WebPhone device these credentials belong to (sip-provision's device.id). */
  deviceId: string;
  instanceId: string;
  contact: string;
  conn: SipConnection;
  registeredAtMs: number;
  expiresAtMs: number;
  userAgent?: string;
}

/**
 * RingCentral allows 5 WebPhone instances per extension and refuses a sixth with
 * `603 Too Many Contacts` (docs/WIRE.md §8).
 */
export const MAX_INSTANCES = 5;
const MAX_NONCES = 1000;

/** REGISTER with RingCentral's digest dance (docs/WIRE.md §1.3), one binding per extension and instance. */
export class Registrar {
  /** Keyed by extension id and instance id: an instance registering again replaces its binding. */
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
      return responseTo(req, 401, "Unauthorized", [["WWW-Authenticate", `Digest realm="${this.account.sip.domain}", nonce="${nonce}", algorithm=MD5`]]);
    }
    // The digest username is the authorizationId, which names the extension.
    const ext = this.account.extensions.find((e) => e.sip.authorizationId === auth.username);
    const expected = ext
      ? digestResponse({ username: ext.sip.authorizationId, realm: ext.sip.domain, password: ext.sip.password, method: "REGISTER", uri: auth.uri ?? "", nonce: auth.nonce })
      : undefined;
    if (!ext || auth.response !== expected) {
      this.log.warn({ conn: conn.id, username: auth.username }, "sip: REGISTER with wrong credentials");
      return responseTo(req, 403, "Forbidden");
    }
    const contact = header(req, "Contact") ?? "";
    const instanceId = contact.match(/\+sip\.instance="<urn:uuid:([^>]+)>"/)?.[1] ?? contact;
    const requested = Number(contact.match(/;expires=(\d+)/)?.[1] ?? header(req, "Expires") ?? this.grantExpiresS);
    const key = `${ext.extensionId}/${instanceId}`;
    for (const [k, r] of this.registrations) if (!this.live(r)) this.registrations.delete(k);
    if (requested === 0) {
      this.registrations.delete(key);
      this.log.info({ conn: conn.id, extension: ext.extensionNumber, instanceId }, "sip: unregistered");
      return responseTo(req, 200, "OK");
    }
    const previous = this.live(this.registrations.get(key));
    if (!previous && this.active(ext).length >= MAX_INSTANCES) {
      this.log.warn({ conn: conn.id, extension: ext.extensionNumber, instanceId, limit: MAX_INSTANCES }, "sip: too many contacts");
      return responseTo(req, 603, "Too Many Contacts");
    }
    const expiresS = Math.min(requested, this.grantExpiresS);
    const now = Date.now();
    // A refresh on the same socket keeps its age; the same instance from another socket is a newer registration that replaces it.
    const refresh = previous?.conn === conn;
    this.registrations.set(key, {
      extensionId: ext.extensionId,
      extensionNumber: ext.extensionNumber,
      username: ext.sip.username,
      authorizationId: ext.sip.authorizationId,
      deviceId: ext.deviceId,
      instanceId,
      contact,
      conn,
      registeredAtMs: refresh ? previous.registeredAtMs : now,
      expiresAtMs: now + expiresS * 1000,
      userAgent: header(req, "User-Agent"),
    });
    if (!refresh) this.log.info({ conn: conn.id, extension: ext.extensionNumber, instanceId, expiresS, replaced: previous?.conn.id }, "sip: registered");
    const bare = contact.replace(/;expires=\d+/, "");
    return responseTo(req, 200, "OK", [["Contact", `${bare};expires=${expiresS}`]]);
  }

  /** Live registrations (of one extension, or all), newest first. */
  active(ext?: TwinExtension): Registration[] {
    return [...this.registrations.values()]
      .filter((r) => this.live(r) && (!ext || r.extensionId === ext.extensionId))
      .sort((a, b) => b.registeredAtMs - a.registeredAtMs);
  }

  /** A device id from sip-provision names the registrations made with its credentials. */
  forDevice(deviceId: string): Registration[] {
    return this.active().filter((r) => r.deviceId === deviceId);
  }

  dropConnection(conn: SipConnection): void {
    for (const [id, r] of this.registrations) if (r.conn === conn) this.registrations.delete(id);
  }

  private live(r: Registration | undefined): Registration | undefined {
    return r && r.expiresAtMs > Date.now() && r.conn.open ? r : undefined;
  }
}

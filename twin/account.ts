import { randomBytes, createHmac } from "node:crypto";

/**
 * The one account, extension and app the twin serves. Numbers are fixed and documented
 * (docs/twin.md) so tests and demos can name them; secrets are made fresh at each start.
 */
export interface TwinAccount {
  accountId: string;
  extensionId: string;
  extensionNumber: string;
  name: string;
  phoneNumber: string;
  clientId: string;
  clientSecret: string;
  /** The JWT credential the app logs in with (a signed, RingCentral-shaped JWT). */
  jwt: string;
  /** The SIP credentials sip-provision hands out. */
  sip: {
    username: string;
    authorizationId: string;
    password: string;
    domain: string;
  };
  /** device.id from sip-provision: what Call Control's answer takes as deviceId. */
  deviceId: string;
}

const b64url = (s: string | Buffer): string => Buffer.from(s).toString("base64url");

function makeJwt(accountId: string, extensionId: string, clientId: string, key: Buffer): string {
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload = b64url(
    JSON.stringify({ aud: "twin", sub: extensionId, iss: "twin", account: accountId, client: clientId, iat: 0 }),
  );
  const sig = createHmac("sha256", key).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${sig}`;
}

export function createTwinAccount(overrides: Partial<Pick<TwinAccount, "clientId" | "clientSecret" | "jwt">> = {}): TwinAccount {
  const accountId = "400000000";
  const extensionId = "400000101";
  const clientId = overrides.clientId ?? "twin-client-id";
  return {
    accountId,
    extensionId,
    extensionNumber: "101",
    name: "Twin Agent",
    phoneNumber: "+16505550100",
    clientId,
    clientSecret: overrides.clientSecret ?? randomBytes(18).toString("base64url"),
    jwt: overrides.jwt ?? makeJwt(accountId, extensionId, clientId, randomBytes(32)),
    sip: {
      username: "16505550100",
      authorizationId: "802400000101",
      password: randomBytes(12).toString("base64url"),
      domain: "sip.twin.invalid",
    },
    deviceId: "803400000101",
  };
}

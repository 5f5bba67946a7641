import { randomBytes, createHmac } from "node:crypto";

/** One user on the account: its number, its JWT, the SIP credentials and WebPhone device sip-provision hands out. */
export interface TwinExtension {
  extensionId: string;
  extensionNumber: string;
  name: string;
  phoneNumber: string;
  /** The JWT credential the app logs in with as this user (a signed, RingCentral-shaped JWT). */
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

/**
 * The one account and app the twin serves. The account's own fields are its default extension
 * (101), so code and tests that know one extension keep working; `extensions` lists every
 * extension, 101 first. Numbers are fixed and documented (docs/twin.md) so tests and demos can
 * name them; secrets are made fresh at each start.
 */
export interface TwinAccount extends TwinExtension {
  accountId: string;
  clientId: string;
  clientSecret: string;
  extensions: TwinExtension[];
}

/** An extension to add: its number (3-5 digits), and optionally its name and phone number. */
export interface ExtensionSpec {
  number: string;
  name?: string;
  phoneNumber?: string;
}

export const EXTENSION_NUMBER = /^[1-9]\d{2,4}$/;
export const PHONE_NUMBER = /^\+1\d{10}$/;
const DEFAULT_EXTENSION = "101";
const SIP_DOMAIN = "sip.twin.invalid";

const b64url = (s: string | Buffer): string => Buffer.from(s).toString("base64url");

function makeJwt(accountId: string, extensionId: string, clientId: string, key: Buffer): string {
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload = b64url(
    JSON.stringify({ aud: "twin", sub: extensionId, iss: "twin", account: accountId, client: clientId, iat: 0 }),
  );
  const sig = createHmac("sha256", key).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${sig}`;
}

/** Ids follow the number, so 101 is extension 400000101, authorizationId 802400000101, device 803400000101. */
function makeExtension(accountId: string, clientId: string, spec: ExtensionSpec, jwt?: string): TwinExtension {
  const n = Number(spec.number);
  const phoneNumber = spec.phoneNumber ?? (spec.number === DEFAULT_EXTENSION ? "+16505550100" : `+1650555${String(n % 10000).padStart(4, "0")}`);
  const extensionId = String(400_000_000 + n);
  return {
    extensionId,
    extensionNumber: spec.number,
    name: spec.name ?? (spec.number === DEFAULT_EXTENSION ? "Twin Agent" : `Twin Agent ${spec.number}`),
    phoneNumber,
    jwt: jwt ?? makeJwt(accountId, extensionId, clientId, randomBytes(32)),
    sip: {
      username: phoneNumber.slice(1),
      authorizationId: String(802_400_000_000 + n),
      password: randomBytes(12).toString("base64url"),
      domain: SIP_DOMAIN,
    },
    deviceId: String(803_400_000_000 + n),
  };
}

export function createTwinAccount(
  overrides: Partial<Pick<TwinAccount, "clientId" | "clientSecret" | "jwt">> = {},
  extensions: ExtensionSpec[] = [],
): TwinAccount {
  const accountId = "400000000";
  const clientId = overrides.clientId ?? "twin-client-id";
  const main = makeExtension(accountId, clientId, { number: DEFAULT_EXTENSION }, overrides.jwt);
  const account: TwinAccount = {
    ...main,
    accountId,
    clientId,
    clientSecret: overrides.clientSecret ?? randomBytes(18).toString("base64url"),
    extensions: [main],
  };
  for (const spec of extensions) addExtension(account, spec);
  return account;
}

/** Adds an extension; throws a message naming the clash when its number or phone number is taken. */
export function addExtension(account: TwinAccount, spec: ExtensionSpec): TwinExtension {
  if (!EXTENSION_NUMBER.test(spec.number)) throw new Error(`extension number must be 3-5 digits, not ${JSON.stringify(spec.number)}`);
  if (spec.phoneNumber !== undefined && !PHONE_NUMBER.test(spec.phoneNumber)) throw new Error(`phoneNumber must be +1 and 10 digits, not ${JSON.stringify(spec.phoneNumber)}`);
  const ext = makeExtension(account.accountId, account.clientId, spec);
  const clash = account.extensions.find((e) => e.extensionNumber === ext.extensionNumber || e.phoneNumber === ext.phoneNumber);
  if (clash) throw new Error(`extension ${clash.extensionNumber} already has ${clash.extensionNumber === ext.extensionNumber ? `number ${ext.extensionNumber}` : `phone number ${ext.phoneNumber}`}`);
  account.extensions.push(ext);
  return ext;
}

/** The extension a caller or a test names: its number, id, phone number (with or without +) or SIP username. */
export function findExtension(account: TwinAccount, name: string): TwinExtension | undefined {
  const bare = name.replace(/^\+/, "");
  return account.extensions.find((e) => [e.extensionNumber, e.extensionId, e.sip.username].includes(bare) || e.phoneNumber === name);
}

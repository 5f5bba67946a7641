import { createHash, randomBytes } from "node:crypto";

const md5 = (s: string): string => createHash("md5").update(s).digest("hex");

export const newNonce = (): string => randomBytes(16).toString("hex");

export interface DigestParams {
  username?: string;
  realm?: string;
  nonce?: string;
  uri?: string;
  response?: string;
  algorithm?: string;
}

/** Parses `Digest k="v", k=v, …` (the WebPhone quotes every value, including algorithm). */
export function parseDigest(value: string | undefined): DigestParams | undefined {
  if (!value || !/^digest\s/i.test(value)) return undefined;
  const params: Record<string, string> = {};
  for (const m of value.slice(7).matchAll(/(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g)) params[m[1].toLowerCase()] = m[2] ?? m[3];
  return params;
}

/** RFC 2617 without qop, which is what RingCentral and the WebPhone use. */
export function digestResponse(p: { username: string; realm: string; password: string; method: string; uri: string; nonce: string }): string {
  const ha1 = md5(`${p.username}:${p.realm}:${p.password}`);
  const ha2 = md5(`${p.method}:${p.uri}`);
  return md5(`${ha1}:${p.nonce}:${ha2}`);
}

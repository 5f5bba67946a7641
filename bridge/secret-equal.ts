import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Constant-time comparison of a presented secret (token, password) with the expected one.
 * Both sides are hashed first: the digests always have the same length, so timingSafeEqual never
 * throws on a length mismatch and the time taken does not reveal the expected secret's length.
 * A missing secret never matches; an empty expected secret matches only an empty one.
 */
export function secretEquals(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  return timingSafeEqual(sha256(given), sha256(expected));
}

const sha256 = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

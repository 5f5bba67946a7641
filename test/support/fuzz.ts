/**
 * The fuzz budget and the hostile values every surface's fuzz draws from. FUZZ_SCALE=10 runs ten
 * times the cases (a longer local hunt); a failure prints fast-check's seed and path to replay it.
 */
import fc from "fast-check";

export function runs(n: number): fc.Parameters<unknown> {
  return { numRuns: Math.max(1, Math.round(n * Number(process.env.FUZZ_SCALE ?? 1))), endOnFailure: true };
}

/** Names that mean something to JavaScript objects. */
export const PROTO_KEYS = ["__proto__", "constructor", "prototype"] as const;

/** Strings that break naive code: escapes, prototype names, NUL, huge numbers, unicode digits, JSON-ish. */
export const nastyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom(...PROTO_KEYS, "", " ", "\u0000", "%zz", "%", "%E0%A4%A", "null", "undefined", "NaN", "-1", "1e309", "0x10", "１２３", "9".repeat(400), "{", "[]", "\u202e", "\ud800"),
);

/** Any JSON value, often with prototype-shaped keys. */
export const nastyJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.dictionary(fc.constantFrom(...PROTO_KEYS, "type", "event", "a"), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
);

/** `obj` with one field replaced by something of another shape (or removed). */
export function mutated<T extends Record<string, unknown>>(valid: fc.Arbitrary<T>): fc.Arbitrary<Record<string, unknown>> {
  return fc.tuple(valid, fc.nat(), fc.oneof(nastyJson, fc.constant(undefined), nastyString)).map(([obj, i, value]) => {
    const keys = Object.keys(obj);
    const out: Record<string, unknown> = { ...obj };
    out[keys[i % keys.length]] = value;
    return out;
  });
}

/** `[` × n then `]` × n: nesting that recursive code would not survive. */
export const deepArrays = (n: number): string => "[".repeat(n) + "]".repeat(n);

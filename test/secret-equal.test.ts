import { describe, expect, it } from "vitest";
import { secretEquals } from "../bridge/secret-equal.ts";

describe("secretEquals (bridge/secret-equal.ts)", () => {
  const secret = "s3cret-token-0123456789";

  it("accepts the same secret", () => {
    expect(secretEquals(secret, secret)).toBe(true);
    expect(secretEquals("pässwörd ✓", "pässwörd ✓")).toBe(true);
  });

  it("rejects a different secret of the same length", () => {
    expect(secretEquals(secret.slice(0, -1) + "X", secret)).toBe(false);
  });

  it("rejects prefixes, extensions and other lengths without throwing", () => {
    expect(secretEquals(secret.slice(0, 5), secret)).toBe(false);
    expect(secretEquals(secret + "0", secret)).toBe(false);
    expect(secretEquals("x".repeat(10_000), secret)).toBe(false);
    expect(secretEquals("", secret)).toBe(false);
  });

  it("rejects a missing secret, even against an empty one", () => {
    expect(secretEquals(undefined, secret)).toBe(false);
    expect(secretEquals(undefined, "")).toBe(false);
    expect(secretEquals("", "")).toBe(true);
  });

  it("compares the UTF-8 bytes: case and Unicode differences count", () => {
    expect(secretEquals(secret.toUpperCase(), secret)).toBe(false);
    expect(secretEquals("e\u0301", "\u00e9")).toBe(false); // é decomposed vs precomposed
  });
});

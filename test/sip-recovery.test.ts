import { describe, expect, it } from "vitest";
import { sipStatusOf } from "../bridge/page-protocol.ts";
import { backoffMs, proxyFor, refusalOf } from "../host/sip-recovery.ts";

describe("SIP recovery policy", () => {
  it("backs off exponentially from 0.5 s to 30 s, with 50–100 % jitter", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map((a) => backoffMs(a, () => 1))).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    expect([1, 2, 7].map((a) => backoffMs(a, () => 0))).toEqual([250, 500, 15000]);
    for (let i = 0; i < 200; i++) {
      const ms = backoffMs(4);
      expect(ms).toBeGreaterThanOrEqual(2000);
      expect(ms).toBeLessThanOrEqual(4000);
    }
  });

  it("tries the primary proxy twice, then the backup twice, and so on; only the primary without a backup", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => proxyFor(a, "primary", true))).toEqual(["primary", "primary", "backup", "backup", "primary", "primary", "backup"]);
    expect([1, 2, 3, 4].map((a) => proxyFor(a, "backup", true))).toEqual(["backup", "backup", "primary", "primary"]);
    expect([1, 3, 5].map((a) => proxyFor(a, "primary", false))).toEqual(["primary", "primary", "primary"]);
  });

  it("reads RingCentral's refusals: credentials (re-provision) and the 5-instance limit; anything else is an outage", () => {
    expect(sipStatusOf("Registration failed: SIP/2.0 603 Decline")).toBe(603);
    expect(sipStatusOf("the SIP WebSocket closed (1006)")).toBeUndefined();
    expect([401, 403, 407].map(refusalOf)).toEqual(["credentials", "credentials", "credentials"]);
    expect(refusalOf(603)).toBe("too-many-instances");
    expect([undefined, 408, 480, 500, 503].map(refusalOf)).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });
});

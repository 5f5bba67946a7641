/**
 * Claims against a real Redis: calls ring on every host at once (as RingCentral rings every
 * registered instance), and exactly one host answers each, within every host's slots and the
 * cluster-wide limits; a host that does not take a call never declines it.
 */
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterKeys } from "../host/cluster/redis-keys.ts";
import { ClusterTestHost, Line, type ClusterHostOptions } from "./support/cluster-hosts.ts";
import { runs } from "./support/fuzz.ts";
import { TestRedis } from "./support/redis.ts";
import { until } from "./support/until.ts";

let redis: TestRedis;
let raw: Redis;
let ext = 0;
const nextExtension = () => `ext-${process.pid}-${++ext}`;

beforeAll(async () => {
  redis = await TestRedis.start();
  raw = new Redis(redis.url);
});
afterAll(async () => {
  raw?.disconnect();
  await redis?.stop();
});

async function startHosts(n: number, opts: (i: number) => Partial<ClusterHostOptions> = () => ({})) {
  const extensionId = nextExtension();
  const hosts = await Promise.all(Array.from({ length: n }, (_, i) => ClusterTestHost.start(redis.url, { hostId: `h${i + 1}`, extensionId, lease: false, ...opts(i) })));
  return { hosts, line: new Line(hosts), keys: new ClusterKeys(extensionId), stop: () => Promise.all(hosts.map((h) => h.stop())) };
}

describe("claims", () => {
  it("9 calls ringing on 3 hosts at once: each answered by exactly one host, as many as the slots and limits allow, none declined", async () => {
    const config = fc.record({
      slots: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })),
      clusterMax: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
      maxPerMinute: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
      withSession: fc.boolean(),
      // Each host sees the INVITEs in its own order.
      orders: fc.tuple(...[0, 1, 2].map(() => fc.shuffledSubarray([0, 1, 2, 3, 4, 5, 6, 7, 8], { minLength: 9, maxLength: 9 }))),
      hostOrder: fc.shuffledSubarray([0, 1, 2], { minLength: 3, maxLength: 3 }),
    });
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(config, async (c) => {
        const { hosts, line, keys, stop } = await startHosts(3, (i) => ({ slots: c.slots[i], clusterMax: c.clusterMax, maxPerMinute: c.maxPerMinute }));
        try {
          const sessions = Array.from({ length: 9 }, (_, i) => `s-${ext}-${i}`);
          // All at once: every call on every host, each host in its own order.
          await Promise.all(
            sessions.map((s, i) =>
              line.ring(c.withSession ? s : undefined, { sipCallId: c.withSession ? undefined : `${s}@sip`, order: c.hostOrder.map((h) => hosts[h]) }).then(() => i),
            ),
          );
          const byCall = new Map<string, string[]>();
          for (const h of hosts) for (const s of h.answered()) byCall.set(s, [...(byCall.get(s) ?? []), h.id]);
          for (const [, answeredBy] of byCall) expect(answeredBy).toHaveLength(1);
          const total = [...byCall.keys()].length;
          const capacity = c.slots.reduce((a, b) => a + b, 0);
          expect(total).toBe(Math.min(9, capacity, c.clusterMax ?? Infinity, c.maxPerMinute ?? Infinity));
          hosts.forEach((h, i) => expect(h.answered().length).toBeLessThanOrEqual(c.slots[i]));
          expect(hosts.map((h) => h.declined())).toEqual([0, 0, 0]);
          // Redis counts what was taken: the cluster-wide count is the truth the next claim checks.
          expect(await raw.zcard(keys.active)).toBe(total);
          // rcvh_cluster_claims_total says the same: `claimed` once per answered call.
          const claimed = await Promise.all(hosts.map(async (h) => (await h.metrics.clusterClaims.get()).values.find((v) => v.labels.result === "claimed")?.value ?? 0));
          expect(claimed.reduce((a, b) => a + b, 0)).toBe(total);
          checked++;
        } finally {
          await stop();
        }
      }),
      { ...runs(25), endOnFailure: true },
    );
    expect(checked).toBeGreaterThan(0);
  });

  it("a call without telephonySessionId is claimed by its SIP Call-ID", async () => {
    const { hosts, line, keys, stop } = await startHosts(2);
    try {
      await line.ring(undefined, { sipCallId: "one-dialog@sip" });
      expect(hosts.flatMap((h) => h.answered())).toEqual(["one-dialog@sip"]);
      expect(await raw.get(keys.claim("sip:one-dialog@sip"))).toMatch(/^h[12]$/);
    } finally {
      await stop();
    }
  });

  it("an ended call's claim stays as a tombstone: the same session ringing again is not taken", async () => {
    const { hosts, line, keys, stop } = await startHosts(2);
    try {
      await line.ring("s-late");
      const owner = hosts.find((h) => h.answered().length === 1)!;
      const call = owner.calls.active()[0];
      owner.remoteEnd(call);
      await until(async () => (await raw.get(keys.claim("tsid:s-late"))) === `ended:${owner.id}`, "the tombstone");
      expect(await raw.zcard(keys.active)).toBe(0);
      // A retransmitted INVITE for the same session, on both hosts.
      await line.ring("s-late", { sipCallId: "s-late@again" });
      expect(hosts.map((h) => h.answered().length).reduce((a, b) => a + b)).toBe(1);
      const left = hosts.flatMap((h) => h.calls.list()).filter((c) => c.sipCallId === "s-late@again");
      expect(left.map((c) => c.endReason)).toEqual([`refused: already handled by host ${owner.id}`, `refused: already handled by host ${owner.id}`]);
    } finally {
      await stop();
    }
  });

  it("a draining host claims nothing: every call goes to the others, and it declines none", async () => {
    const { hosts, line, stop } = await startHosts(2, () => ({ slots: 4 }));
    try {
      hosts[0].draining = true;
      for (let i = 0; i < 3; i++) await line.ring(`s-drain-${i}`);
      expect(hosts[0].answered()).toEqual([]);
      expect(hosts[1].answered()).toEqual(["s-drain-0", "s-drain-1", "s-drain-2"]);
      expect(hosts[0].declined()).toBe(0);
    } finally {
      await stop();
    }
  });

  it("a call left ringing for a cluster-wide limit, Redis away or no slot is claimed again once that passes: by exactly one host, never declined", async () => {
    const { hosts, line, keys, stop } = await startHosts(3, () => ({ slots: 1, clusterMax: 2 }));
    try {
      await line.ring("s-1");
      await line.ring("s-2");
      await line.ring("s-3"); // CLUSTER_MAX_CONCURRENT_CALLS 2 reached: left ringing on all three
      expect(hosts.flatMap((h) => h.answered()).sort()).toEqual(["s-1", "s-2"]);
      const waiting = hosts.flatMap((h) => h.calls.active().filter((c) => c.telephonySessionId === "s-3"));
      expect(waiting.map((c) => c.state)).toEqual(["ringing", "ringing", "ringing"]);
      // s-1 ends (the caller hangs up): its claim is released, and s-3 is taken by one host with a free slot.
      const owner1 = hosts.find((h) => h.answered().includes("s-1"))!;
      owner1.remoteEnd(owner1.calls.active().find((c) => c.telephonySessionId === "s-1")!);
      await until(() => hosts.flatMap((h) => h.answered()).includes("s-3"), "s-3 claimed again and answered", 5000);
      expect(hosts.filter((h) => h.answered().includes("s-3"))).toHaveLength(1);
      expect(hosts.map((h) => h.declined())).toEqual([0, 0, 0]);
      const answered = hosts.flatMap((h) => h.calls.active().filter((c) => c.telephonySessionId === "s-3" && c.state === "answered"));
      expect(answered).toHaveLength(1);
      expect(answered[0].endReason).toBeUndefined();
      expect(await raw.zcard(keys.active)).toBe(2);
    } finally {
      await stop();
    }
  });

  it("every host at its MAX_CONCURRENT_CALLS: the next call rings on all (none declines), and the first host with a slot again takes it", async () => {
    const { hosts, line, stop } = await startHosts(2, () => ({ slots: 1 }));
    try {
      await line.ring("s-a");
      await line.ring("s-b");
      await line.ring("s-c");
      expect(hosts.flatMap((h) => h.answered()).sort()).toEqual(["s-a", "s-b"]);
      expect(hosts.flatMap((h) => h.calls.active().filter((c) => c.telephonySessionId === "s-c")).map((c) => c.state)).toEqual(["ringing", "ringing"]);
      const ownerB = hosts.find((h) => h.answered().includes("s-b"))!;
      ownerB.remoteEnd(ownerB.calls.active().find((c) => c.telephonySessionId === "s-b")!);
      await until(() => ownerB.answered().includes("s-c"), "s-c taken by the host whose slot freed", 5000);
      expect(hosts.flatMap((h) => h.answered()).filter((s) => s === "s-c")).toHaveLength(1);
      expect(hosts.map((h) => h.declined())).toEqual([0, 0]);
    } finally {
      await stop();
    }
  });

  it("caller rules may still decline in a cluster (the same on every host); capacity never does", async () => {
    const { hosts, line, stop } = await startHosts(2, () => ({ slots: 1, answer: { deny: [/^\+1999.*$/], refusedAction: "decline" } }));
    try {
      await line.ring("s-denied", { from: "+19990000000" });
      expect(hosts.map((h) => h.declined())).toEqual([1, 1]);
      await line.ring("s-a");
      await line.ring("s-b");
      await line.ring("s-c"); // both hosts full: left ringing for voicemail, not declined
      expect(hosts.map((h) => h.declined())).toEqual([1, 1]);
      expect(hosts.flatMap((h) => h.answered()).sort()).toEqual(["s-a", "s-b"]);
    } finally {
      await stop();
    }
  });
});

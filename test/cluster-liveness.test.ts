/**
 * Liveness, leases and Redis's own failures, against a real redis-server: a host killed with
 * SIGKILL is noticed by the others within 10 s (its calls end `host-lost`, its claims and lease
 * are freed); a sixth host gets no lease and waits, unready, without taking another's; Redis
 * killed mid-run stops every claim and comes back with the hosts' state written again.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_INSTANCES_PER_EXTENSION, TIMING } from "../host/cluster/cluster.ts";
import { RedisCluster } from "../host/cluster/redis-cluster.ts";
import { ClusterKeys } from "../host/cluster/redis-keys.ts";
import { ClusterTestHost, Line } from "./support/cluster-hosts.ts";
import { quietLog } from "./support/fake-page.ts";
import { spawnHostCli } from "./support/host-cli.ts";
import { TestRedis } from "./support/redis.ts";
import { until } from "./support/until.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
let redis: TestRedis;
let raw: Redis;
let ext = 0;
const nextExtension = () => `live-${process.pid}-${++ext}`;

beforeAll(async () => {
  redis = await TestRedis.start();
  raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  raw.on("error", () => {});
});
afterAll(async () => {
  raw?.disconnect();
  await redis?.stop();
});

/** A cluster host in its own process, holding answered calls; resolves with what it printed. */
function spawnHost(extensionId: string, hostId: string, calls: string[]) {
  const child = spawn(process.execPath, ["--import", "tsx", "test/support/cluster-child.ts"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", REDIS_URL: redis.url, HOST_ID: hostId, EXTENSION_ID: extensionId, CALLS: calls.join(",") },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const ready = new Promise<{ hostId: string; slot: number; calls: Array<{ id: string; telephonySessionId: string; state: string }> }>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (l) => l.startsWith("{") && resolve(JSON.parse(l)));
    child.once("exit", (code) => reject(new Error(`the child host exited (${code}) before it was ready`)));
  });
  return { child, ready };
}

describe("a host that dies", () => {
  it("SIGKILL: within 10 s its calls end host-lost cluster-wide, its claims and lease are freed", async () => {
    const extensionId = nextExtension();
    const keys = new ClusterKeys(extensionId);
    const survivor = await ClusterTestHost.start(redis.url, { hostId: "survivor", extensionId });
    const { child, ready } = spawnHost(extensionId, "doomed", ["s-k1", "s-k2"]);
    try {
      const held = await ready;
      expect(held.calls.map((c) => c.state)).toEqual(["answered", "answered"]);
      // The survivor sees the doomed host's calls and lease.
      const seen = await survivor.actions.list();
      expect(seen.records.filter((r) => r.host === "doomed").map((r) => r.state)).toEqual(["answered", "answered"]);
      expect(await raw.get(keys.lease(held.slot))).toBe("doomed");
      expect(await raw.get(keys.claim("tsid:s-k1"))).toBe("doomed");

      const t0 = Date.now();
      child.kill("SIGKILL");
      for (const c of held.calls) {
        await until(async () => (await survivor.actions.view(c.id))?.endReason === "host-lost", `call ${c.id} to end host-lost`, 10_000);
      }
      const detectedMs = Date.now() - t0;
      console.log(`host killed → its calls ended host-lost on the survivor after ${detectedMs} ms (heartbeat TTL ${TIMING.heartbeatTtlMs} ms, reaper every ${TIMING.reapEveryMs} ms)`);
      expect(detectedMs).toBeLessThan(10_000);
      expect((await survivor.actions.view(held.calls[0].id))?.state).toBe("ended");
      expect(await raw.get(keys.claim("tsid:s-k1"))).toBeNull();
      expect(await raw.get(keys.lease(held.slot))).toBeNull();
      expect(await raw.sismember(keys.hosts, "doomed")).toBe(0);
      expect(await raw.zscore(keys.active, "tsid:s-k1")).toBeNull();
      // Freed, not tombstoned: a session still ringing can be taken by a live host.
      await new Line([survivor]).ring("s-k1");
      expect(survivor.answered()).toEqual(["s-k1"]);
    } finally {
      child.kill("SIGKILL");
      await survivor.stop();
    }
  });

  it("a clean stop frees its lease and heartbeat at once", async () => {
    const extensionId = nextExtension();
    const keys = new ClusterKeys(extensionId);
    const h = await ClusterTestHost.start(redis.url, { hostId: "clean", extensionId });
    const slot = h.cluster.status().instanceSlot!;
    expect(await raw.get(keys.lease(slot))).toBe("clean");
    await h.stop();
    expect(await raw.get(keys.lease(slot))).toBeNull();
    expect(await raw.exists(keys.host("clean"))).toBe(0);
    expect(await raw.sismember(keys.hosts, "clean")).toBe(0);
  });
});

describe("instance leases", () => {
  it(`a sixth host gets no lease: unready with the reason, it waits, and takes the lease a host gives back`, async () => {
    const extensionId = nextExtension();
    const timing = { leaseRetryMs: 300 };
    const five = await Promise.all(Array.from({ length: MAX_INSTANCES_PER_EXTENSION }, (_, i) => ClusterTestHost.start(redis.url, { hostId: `h${i}`, extensionId, timing })));
    const ids = five.map((h) => h.instanceId);
    expect(new Set(ids).size).toBe(MAX_INSTANCES_PER_EXTENSION);
    expect(five.map((h) => h.cluster.status().ready)).toEqual([true, true, true, true, true]);
    const sixth = await ClusterTestHost.start(redis.url, { hostId: "h-sixth", extensionId, timing, lease: false });
    const waiting = new AbortController();
    const leased = sixth.cluster.leaseInstance(waiting.signal);
    try {
      await until(() => sixth.cluster.status().reason?.startsWith("all 5 instance leases of this extension are held (by h"), "the sixth host's reason");
      const status = sixth.cluster.status();
      expect(status.ready).toBe(false);
      expect(status.reason).toMatch(/RingCentral registers at most 5 WebPhone instances per extension/);
      // It claims nothing meanwhile, and nobody lost a lease to it.
      expect(await sixth.cluster.claim("tsid:s-six", {})).toEqual({ claimed: false, reason: status.reason, refusal: "unavailable" });
      expect(five.map((h) => h.cluster.status().instanceSlot).sort()).toEqual([0, 1, 2, 3, 4]);

      const leaving = five[2];
      const itsSlot = leaving.cluster.status().instanceSlot;
      await leaving.stop();
      // Same slot, same instanceId: RingCentral sees the one instance come back, not a new one.
      expect(await leased).toBe(leaving.instanceId);
      expect(sixth.cluster.status()).toMatchObject({ ready: true, reason: null, instanceSlot: itsSlot });
    } finally {
      waiting.abort();
      await Promise.all([...five, sixth].map((h) => h.stop()));
    }
    // Restarted hosts take the same five instanceIds.
    const again = await Promise.all(Array.from({ length: MAX_INSTANCES_PER_EXTENSION }, (_, i) => ClusterTestHost.start(redis.url, { hostId: `r${i}`, extensionId })));
    expect(again.map((h) => h.instanceId).sort()).toEqual([...ids].sort());
    await Promise.all(again.map((h) => h.stop()));
  });
});

describe("a lease lost while away", () => {
  it("taken by another host meanwhile: this host steps back (unregisters), unready, claiming nothing", async () => {
    const extensionId = nextExtension();
    const keys = new ClusterKeys(extensionId);
    const h = await ClusterTestHost.start(redis.url, { hostId: "away", extensionId });
    try {
      const slot = h.cluster.status().instanceSlot!;
      // As if its lease had expired while it could not reach Redis, and another host took the slot.
      await raw.set(keys.lease(slot), "intruder", "PX", 60_000);
      await until(() => h.leaseLost, "the lease-lost signal", TIMING.heartbeatEveryMs * 3);
      expect(h.cluster.status()).toMatchObject({ ready: false, reason: `instance lease ${slot} was taken by host intruder while this host was away from Redis: unregistered, not claiming calls; restart this host to take a free lease` });
      expect(await h.cluster.claim("tsid:s-away", {})).toMatchObject({ claimed: false, refusal: "unavailable" });
      expect(await raw.get(keys.lease(slot))).toBe("intruder");
    } finally {
      await h.stop();
    }
  });
});

describe("Redis itself", () => {
  it("killed mid-run: no claim succeeds, /ready's reason says why, calls go on; back: state written again, claiming again", async () => {
    const extensionId = nextExtension();
    const keys = new ClusterKeys(extensionId);
    const hosts = await Promise.all(["a", "b"].map((id) => ClusterTestHost.start(redis.url, { hostId: id, extensionId })));
    const line = new Line(hosts);
    try {
      await line.ring("s-before");
      const owner = hosts.find((h) => h.answered().length)!;
      const inProgress = owner.calls.active()[0];
      await until(async () => (await raw.get(keys.call(inProgress.id))) !== null, "the call's record");

      await redis.kill();
      await until(() => hosts.every((h) => h.cluster.status().reason?.startsWith("Redis at redis://127.0.0.1")), "both hosts to see Redis gone");
      expect(hosts[0].cluster.status()).toMatchObject({ ready: false, reason: expect.stringMatching(/unreachable since .*: not claiming calls; calls in progress go on$/) });
      await line.ring("s-during");
      expect(hosts.flatMap((h) => h.answered())).toEqual(["s-before"]);
      expect(hosts.map((h) => h.declined())).toEqual([0, 0]);
      const during = hosts.flatMap((h) => h.calls.list()).filter((c) => c.telephonySessionId === "s-during");
      expect(during.map((c) => [c.state, c.endReason])).toEqual([
        ["ringing", "refused: cluster unavailable: Redis unreachable"],
        ["ringing", "refused: cluster unavailable: Redis unreachable"],
      ]);
      expect(inProgress.state).toBe("answered");
      // GET /calls still answers, with this host's calls and why the list is partial.
      const partial = await owner.actions.list();
      expect(partial.partial).toMatch(/^cluster unavailable/);
      expect(partial.records.map((r) => r.id)).toEqual([inProgress.id]);

      await redis.restart(); // empty: nothing survived
      await until(() => hosts.every((h) => h.cluster.status().ready), "both hosts ready again", 15_000);
      // What the hosts hold is written again: the call in progress, its claim, their leases.
      await until(async () => (await raw.get(keys.claim("tsid:s-before"))) === owner.id, "the claim written again");
      const back = await hosts.find((h) => h !== owner)!.actions.list();
      expect(back.records.filter((r) => r.id === inProgress.id).map((r) => [r.state, r.host])).toEqual([["answered", owner.id]]);
      // The call that rang while Redis was away is claimed again now: answered by exactly one host.
      await until(() => hosts.flatMap((h) => h.answered()).includes("s-during"), "s-during claimed again", 5000);
      expect(hosts.flatMap((h) => h.answered()).filter((s) => s === "s-during")).toHaveLength(1);
      expect((await raw.mget(keys.lease(0), keys.lease(1))).sort()).toEqual(["a", "b"]);
      await line.ring("s-after");
      expect(hosts.flatMap((h) => h.answered()).filter((s) => s === "s-after")).toHaveLength(1);
    } finally {
      await Promise.all(hosts.map((h) => h.stop()));
    }
  });

  it("unreachable at start: a clear error naming REDIS_URL (and npm start exits 1 before it logs in)", async () => {
    const closed = `redis://127.0.0.1:${redis.port + 1}`;
    const cluster = new RedisCluster({ url: closed, hostId: "x", log: quietLog, timing: { connectTimeoutMs: 1000 } });
    await expect(cluster.connect()).rejects.toThrow(/^cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+\/? within 1000 ms \(ECONNREFUSED\): check REDIS_URL/);
    await cluster.stop();

    const child = spawnHostCli(
      {
        RINGCENTRAL_SERVER_URL: "http://127.0.0.1:9",
        RINGCENTRAL_CLIENT_ID: "client",
        RINGCENTRAL_CLIENT_SECRET: "secret-value",
        RINGCENTRAL_JWT_TOKEN: "a.b.c",
        PIPELINE_URL: "ws://127.0.0.1:9",
        HTTP_PORT: "0",
        REDIS_URL: `redis://:hunter2-password@127.0.0.1:${redis.port + 1}`,
      },
      "cluster-start",
    );
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const code = await new Promise<number | null>((r) => child.once("exit", r));
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/? within 5000 ms \(ECONNREFUSED\)/m);
    expect(stderr).not.toContain("hunter2");
  });
});

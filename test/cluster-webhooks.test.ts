/**
 * Webhook mode in a cluster, against a real Redis: one host holds the extension's subscription
 * (and another takes it over when that host stops or dies); each delivery, whichever host got it,
 * is handled once and heard by every host; the claims then decide which host answers the call,
 * or fetches it with Call Control when it rings on none.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TIMING } from "../host/cluster/cluster.ts";
import type { TelephonyEvent } from "../host/webhooks.ts";
import { ClusterTestHost, Line, type ClusterHostOptions } from "./support/cluster-hosts.ts";
import { TestRedis } from "./support/redis.ts";
import { until } from "./support/until.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
let redis: TestRedis;
let ext = 0;

beforeAll(async () => {
  redis = await TestRedis.start();
});
afterAll(async () => {
  await redis?.stop();
});

async function startHosts(n: number, opts: Partial<ClusterHostOptions> = {}) {
  const extensionId = `hooks-${process.pid}-${++ext}`;
  const hosts = await Promise.all(Array.from({ length: n }, (_, i) => ClusterTestHost.start(redis.url, { hostId: `w${i + 1}`, extensionId, answer: { mode: "webhook" }, ...opts })));
  return { extensionId, hosts, line: new Line(hosts), stop: () => Promise.all(hosts.map((h) => h.stop())) };
}

const ringingEvent = (telephonySessionId: string, extensionId: string): TelephonyEvent => ({
  telephonySessionId,
  sequence: 1,
  parties: [{ id: "p-1", direction: "Inbound", extensionId, from: { phoneNumber: "+15550001111" }, status: { code: "Proceeding" } }],
});

describe("webhook mode in a cluster", () => {
  it("one host holds the subscription; when it stops, another takes it", async () => {
    const { hosts, stop } = await startHosts(3, { bid: true });
    try {
      await until(() => hosts.filter((h) => h.leading).length === 1, "one holder");
      const holder = hosts.find((h) => h.leading)!;
      await holder.stop();
      const others = hosts.filter((h) => h !== holder);
      await until(() => others.filter((h) => h.leading).length === 1, "a new holder", TIMING.heartbeatEveryMs * 3);
    } finally {
      await stop();
    }
  });

  it("a holder killed with SIGKILL: another host takes the subscription once its lease expires", async () => {
    const extensionId = `hooks-${process.pid}-${++ext}`;
    const child = spawn(process.execPath, ["--import", "tsx", "test/support/cluster-child.ts"], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", REDIS_URL: redis.url, HOST_ID: "holder", EXTENSION_ID: extensionId, BID: "1" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const printed = await new Promise<{ leading: boolean }>((resolve) => createInterface({ input: child.stdout! }).on("line", (l) => l.startsWith("{") && resolve(JSON.parse(l))));
    expect(printed.leading).toBe(true);
    const heir = await ClusterTestHost.start(redis.url, { hostId: "heir", extensionId, bid: true });
    try {
      await new Promise((r) => setTimeout(r, TIMING.heartbeatEveryMs + 200)); // a heartbeat: the holder still holds it
      expect(heir.leading).toBe(false);
      const t0 = Date.now();
      child.kill("SIGKILL");
      await until(() => heir.leading, "the heir to take the subscription", TIMING.leaseTtlMs + TIMING.heartbeatEveryMs + 2000);
      console.log(`subscription holder killed → another host holds it after ${Date.now() - t0} ms`);
    } finally {
      child.kill("SIGKILL");
      await heir.stop();
    }
  });

  it("a delivery reaches one host, every host hears it once; the call ringing on all of them is answered by one", async () => {
    const { hosts, line, stop, extensionId } = await startHosts(3);
    try {
      // The INVITE first: with no verdict yet, every host waits, ringing.
      await line.ring("s-w1");
      expect(hosts.flatMap((h) => h.answered())).toEqual([]);
      // RingCentral delivers to one host (through the load balancer), then retries it to another.
      await hosts[1].cluster.shareEvent("uuid-1", ringingEvent("s-w1", extensionId));
      await hosts[2].cluster.shareEvent("uuid-1", ringingEvent("s-w1", extensionId));
      await until(() => hosts.flatMap((h) => h.answered()).length === 1, "one answer");
      await until(() => hosts.every((h) => h.events.length === 1), "every host to hear it");
      await new Promise((r) => setTimeout(r, 300));
      expect(hosts.map((h) => h.events.length)).toEqual([1, 1, 1]);
      expect(hosts.flatMap((h) => h.answered())).toEqual(["s-w1"]);
      expect(hosts.map((h) => h.declined())).toEqual([0, 0, 0]);
    } finally {
      await stop();
    }
  });

  it("a call approved but ringing on no host is fetched with Call Control by exactly one host", async () => {
    const { hosts, stop, extensionId } = await startHosts(3);
    try {
      await hosts[0].cluster.shareEvent("uuid-2", ringingEvent("s-w2", extensionId));
      await until(() => hosts.flatMap((h) => h.fetched).length === 1, "one Call Control answer", 5000);
      // Every host waited its 1.5 s and decided: still only one asked, with its own device.
      await new Promise((r) => setTimeout(r, 1000));
      const fetched = hosts.flatMap((h) => h.fetched.map((f) => ({ ...f, by: h.id })));
      expect(fetched).toHaveLength(1);
      expect(fetched[0]).toEqual({ telephonySessionId: "s-w2", deviceId: `device-${fetched[0].by}`, by: fetched[0].by });
    } finally {
      await stop();
    }
  });
});

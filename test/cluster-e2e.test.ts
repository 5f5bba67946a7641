/**
 * The whole host (real Chrome, the twin) with REDIS_URL set: it joins, registers with the
 * instanceId its lease names, answers a call it claimed, lists it in the cluster's registry, and
 * frees its lease when it stops. Losing Redis turns /ready 503 with the reason; the call goes on.
 * Several Chrome-backed hosts on one extension: test/cluster-3hosts-e2e.test.ts and
 * test/cluster-webhook-3hosts-e2e.test.ts.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterKeys } from "../host/cluster/redis-keys.ts";
import { TestRedis } from "./support/redis.ts";
import { startStack, until, type Stack } from "./support/stack.ts";
import { speakTone, startTestPipeline } from "./support/twilio-pipeline.ts";

const API_TOKEN = "cluster-e2e-token-0123456789";

describe("one host in a cluster, end to end", () => {
  let redis: TestRedis;
  let raw: Redis;
  let stack: Stack;
  let pipeline: Awaited<ReturnType<typeof startTestPipeline>>;
  let keys: ClusterKeys;
  const api = async (path: string, method = "GET") => {
    const res = await fetch(`${stack.httpUrl}${path}`, { method, headers: { authorization: `Bearer ${API_TOKEN}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { records?: Array<Record<string, unknown>> } };
  };
  const ready = async () => {
    const res = await fetch(`${stack.httpUrl}/ready`);
    return { status: res.status, body: (await res.json()) as { ready: boolean; cluster: Record<string, unknown> } };
  };

  beforeAll(async () => {
    redis = await TestRedis.start();
    raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    raw.on("error", () => {});
    pipeline = await startTestPipeline(() => speakTone(880));
    stack = await startStack({ PIPELINE_URL: pipeline.url, API_TOKEN, REDIS_URL: redis.url, HOST_ID: "e2e-host" });
  });
  afterAll(async () => {
    await stack?.stop();
    await pipeline?.close();
    raw?.disconnect();
    await redis?.stop();
  });

  it("registers with its leased instanceId, answers a claimed call, and lists it with its owner", async () => {
    const r = await ready();
    expect(r).toMatchObject({ status: 200, body: { ready: true, cluster: { mode: "redis", hostId: "e2e-host", ready: true, reason: null, instanceSlot: 0, hosts: 1 } } });
    const { records: regs } = (await (await fetch(`${stack.twin.controlUrl}/registrations`)).json()) as { records: Array<{ instanceId: string; extensionId: string }> };
    expect(regs).toHaveLength(1);
    keys = new ClusterKeys(regs[0].extensionId);
    expect(regs[0].instanceId).toBe(await raw.get(keys.instance(0)));
    expect(await raw.get(keys.lease(0))).toBe("e2e-host");

    const placed = await stack.placeCall({ from: "+15550000440", play: "tone:440", hangupAfterMs: 60_000 });
    await until(async () => (await stack.twinState(placed.callId)) === "answered", "the answer");
    expect(await raw.get(keys.claim(`tsid:${placed.telephonySessionId}`))).toBe("e2e-host");
    const listed = await until(async () => (await api("/calls")).body.records?.find((c) => c.telephonySessionId === placed.telephonySessionId && c.state === "answered"), "the call in the cluster's list");
    expect(listed.host).toBe("e2e-host");
    expect(JSON.parse((await raw.get(keys.call(String(listed.id))))!)).toMatchObject({ owner: "e2e-host", view: { state: "answered" } });

    // Redis lost: not ready, with the reason; the call in progress goes on.
    await redis.kill();
    await until(async () => (await ready()).status === 503, "/ready 503");
    expect((await ready()).body.cluster.reason).toMatch(/^Redis at redis:\/\/127\.0\.0\.1:\d+\/? unreachable since .*: not claiming calls; calls in progress go on$/);
    expect(await stack.twinState(placed.callId)).toBe("answered");
    await redis.restart();
    await until(async () => (await ready()).status === 200, "/ready 200 again", 15_000);
    await until(async () => (await raw.get(keys.claim(`tsid:${placed.telephonySessionId}`))) === "e2e-host", "the claim written again");

    await stack.hangupFromCaller(placed.callId);
    await until(async () => (await api(`/calls/${listed.id}`)).body.state === "ended", "the end");
    await until(async () => (await raw.get(keys.claim(`tsid:${placed.telephonySessionId}`))) === "ended:e2e-host", "the tombstone");
  });

  it("frees its lease when it stops", async () => {
    await stack.stop();
    expect(await raw.get(keys.lease(0))).toBeNull();
    expect(await raw.sismember(keys.hosts, "e2e-host")).toBe(0);
    stack = undefined as unknown as Stack;
  });
});

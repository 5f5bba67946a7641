/**
 * Webhook mode with three host processes behind one shared WEBHOOK_PUBLIC_URL (a loopback load
 * balancer), one real Redis, the twin: exactly one telephony subscription at the twin for the
 * extension; each delivery, whichever host gets it, is heard once by every host (one approval per
 * host per call) and each call is answered once, into one pipeline stream, including one that
 * rings only elsewhere and is fetched with Call Control (the twin gives one deviceId per
 * extension: the host that claimed the session asks, and its claim makes it the one that answers
 * the auto-answer INVITE that then rings on every instance). The subscription's holder SIGKILLed:
 * another host takes the lease, makes its subscription and sweeps the lost holder's (measured).
 */
import { SDK } from "@ringcentral/sdk";
import { Redis } from "ioredis";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { ClusterKeys } from "../host/cluster/redis-keys.ts";
import { startTwin, type Twin } from "../twin/server.ts";
import { HostProc } from "./support/host-procs.ts";
import { TestRedis } from "./support/redis.ts";
import { twinEnv, until } from "./support/stack.ts";
import { speakTone, startTestPipeline } from "./support/twilio-pipeline.ts";
import { startWebhookBalancer } from "./support/webhook-balancer.ts";

const API_TOKEN = "cluster-webhook-token-0123456789";
type Sub = { id: string; status: string; deliveryMode: { address: string } };
type Leg = { outcome: string };

describe("webhook mode, three hosts behind one address", () => {
  let redis: TestRedis;
  let raw: Redis;
  let twin: Twin;
  let keys: ClusterKeys;
  let admin: ReturnType<SDK["platform"]>;
  let pipeline: Awaited<ReturnType<typeof startTestPipeline>>;
  let balancer: Awaited<ReturnType<typeof startWebhookBalancer>>;
  let hosts: HostProc[] = [];
  let placed = 0;

  const live = () => hosts.filter((h) => h.alive);
  const subs = async () => ((await (await admin.get("/restapi/v1.0/subscription")).json()).records as Sub[]).filter((s) => s.status === "Active");
  const twinState = async (id: string) => ((await (await fetch(`${twin.controlUrl}/calls`)).json()) as { records: Array<{ id: string; state: string }> }).records.find((r) => r.id === id)?.state;
  const place = async (extra: Record<string, unknown> = {}) => {
    const from = `+1555000${String(8000 + ++placed)}`;
    const res = await fetch(`${twin.controlUrl}/calls`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ from, play: "tone:440", hangupAfterMs: 2500, ...extra }) });
    expect(res.status).toBe(201);
    return { ...((await res.json()) as { callId: string; telephonySessionId: string }), from };
  };
  const lines = (h: HostProc, from: string, msg: string) => h.log.filter((l) => l.includes(from) && l.includes(msg)).length;
  const logOf = (h: HostProc, tsid: string, msg: string) => h.log.filter((l) => l.includes(tsid) && l.includes(msg)).length;

  /** One call through the webhook: heard once by each live host, answered once, one stream, ended. */
  async function answeredOnce(c: { callId: string; telephonySessionId: string; from: string }) {
    await until(async () => (await twinState(c.callId)) === "ended", "the call answered and ended", 30_000);
    const view = (await (await fetch(`${twin.controlUrl}/calls/${c.callId}`)).json()) as { answeredAtMs: number | null; legs: Leg[] };
    expect(view.answeredAtMs).not.toBeNull();
    expect(view.legs.filter((l) => l.outcome === "answered")).toHaveLength(1);
    expect(view.legs.filter((l) => l.outcome === "declined")).toEqual([]);
    expect(pipeline.streams.filter((s) => s.start?.callSid === c.telephonySessionId)).toHaveLength(1);
    for (const h of live()) expect(logOf(h, c.telephonySessionId, "webhook: call approved")).toBe(1);
    expect(live().reduce((n, h) => n + lines(h, c.telephonySessionId, "call: answered"), 0)).toBe(1);
  }

  beforeAll(async () => {
    redis = await TestRedis.start();
    raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    raw.on("error", () => {});
    twin = await startTwin({ log: pino({ level: "silent" }) });
    admin = new SDK({ server: twin.restUrl, clientId: twin.clientId, clientSecret: twin.clientSecret, cachePrefix: "cluster-webhook-admin-" }).platform();
    await admin.login({ jwt: twin.jwt });
    pipeline = await startTestPipeline(() => speakTone(880));
    balancer = await startWebhookBalancer(() => live().map((h) => h.url));
    const env = {
      ...twinEnv(twin),
      PIPELINE_URL: pipeline.url,
      REDIS_URL: redis.url,
      ANSWER_MODE: "webhook",
      WEBHOOK_PUBLIC_URL: balancer.url,
      WEBHOOK_VERIFICATION_TOKEN: "cluster-webhook-verification-0123",
      MAX_CONCURRENT_CALLS: "2",
      LOG_LEVEL: "info",
    };
    hosts = await Promise.all(["w1", "w2", "w3"].map((id) => HostProc.spawn(id, API_TOKEN, env)));
    try {
      await until(async () => (await Promise.all(hosts.map((h) => h.ready()))).every((r) => r?.status === 200), "three hosts ready", 100_000);
      await until(async () => (await subs()).length === 1, "the cluster's subscription", 20_000);
    } catch (err) {
      for (const h of hosts) console.error(`── ${h.hostId}\n${h.log.slice(-30).join("\n")}`);
      throw err;
    }
    const { records } = (await (await fetch(`${twin.controlUrl}/registrations`)).json()) as { records: Array<{ extensionId: string }> };
    expect(records).toHaveLength(3);
    keys = new ClusterKeys(records[0].extensionId);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop()));
    await balancer?.close();
    await pipeline?.close();
    await twin?.stop();
    raw?.disconnect();
    await redis?.stop();
  }, 60_000);

  it("one subscription for the extension; each call heard once per host and answered once, ringing here or fetched by Call Control", async () => {
    onTestFailed(() => hosts.forEach((h) => console.error(`── ${h.hostId}\n${h.log.slice(-30).join("\n")}`)));
    const [sub] = await subs();
    expect(sub.deliveryMode.address).toBe(`${balancer.url}/webhooks/ringcentral`);
    expect(hosts.map((h) => h.hostId)).toContain(await raw.get(keys.subscriber));
    for (let i = 0; i < 3; i++) await answeredOnce(await place());
    // Rings on no instance: every host approves it, one claims the session and asks Call Control.
    const fetched = await place({ ring: "elsewhere" });
    await answeredOnce(fetched);
    expect(hosts.reduce((n, h) => n + logOf(h, fetched.telephonySessionId, "call control: answer requested for this device"), 0)).toBe(1);
    // The deliveries went through the shared address to more than one host, and still one subscription.
    expect(Object.keys(balancer.served).length).toBeGreaterThan(1);
    expect((await subs()).map((s) => s.id)).toEqual([sub.id]);
  }, 90_000);

  it("the subscription's holder SIGKILLed: another host takes it over (one subscription again) and the next call is answered once", async () => {
    onTestFailed(() => hosts.forEach((h) => console.error(`── ${h.hostId}\n${h.log.slice(-30).join("\n")}`)));
    const holderId = await raw.get(keys.subscriber);
    const holder = hosts.find((h) => h.hostId === holderId)!;
    const [before] = await subs();
    const t0 = Date.now();
    await holder.kill();
    const taker = await until(async () => {
      const now = await raw.get(keys.subscriber);
      return now && now !== holderId ? now : undefined;
    }, "another host to take the subscription's lease", 15_000);
    const leaseS = (Date.now() - t0) / 1000;
    await until(async () => {
      const s = await subs();
      return s.length === 1 && s[0].id !== before.id;
    }, "one subscription, the new holder's", 15_000);
    const handoverS = (Date.now() - t0) / 1000;
    console.info(`SIGKILL of subscription holder ${holderId} → ${taker} holds the lease after ${leaseS.toFixed(2)} s, its subscription (the old one swept) after ${handoverS.toFixed(2)} s`);
    expect(handoverS).toBeLessThan(15);
    await answeredOnce(await place());
  }, 60_000);
});

/**
 * Three host processes (`host/cli.ts`, each with its own Chrome) on one extension, one real
 * Redis, the twin ringing every registered instance. Nine inbound calls, CLUSTER_MAX_CONCURRENT_CALLS
 * 2: each is answered by exactly one host and dialled into exactly one pipeline stream, audio
 * both ways (tones measured); the cluster never has more than 2 in progress, and the calls beyond
 * ring on (never declined) until a claim frees. A call's GET and hangup work through a host that
 * does not own it. One host SIGKILLed mid-call: its call ends `host-lost` and its claim is freed
 * within 10 s, and the others answer the next call. Redis stopped mid-run: every host unready,
 * no host claims the call that rings meanwhile; Redis back: ready again, and that call is answered
 * by exactly one host.
 */
import { Redis } from "ioredis";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { ClusterKeys } from "../host/cluster/redis-keys.ts";
import { dominantHz } from "../twin/caller/analysis.ts";
import { startTwin, type Twin } from "../twin/server.ts";
import { HostProc } from "./support/host-procs.ts";
import { TestRedis } from "./support/redis.ts";
import { twinEnv, until, type TwinCallView } from "./support/stack.ts";
import { speakTone, startTestPipeline } from "./support/twilio-pipeline.ts";

const API_TOKEN = "cluster-3hosts-token-0123456789";
const CLUSTER_MAX = 2;
const AGENT_HZ = 880;

type Leg = { instanceId: string; outcome: string };
type TwinCall = TwinCallView & { legs: Leg[] };

describe("three hosts on one extension, end to end", () => {
  let redis: TestRedis;
  let raw: Redis;
  let twin: Twin;
  let keys: ClusterKeys;
  let pipeline: Awaited<ReturnType<typeof startTestPipeline>>;
  let hosts: HostProc[] = [];
  // What the sampler saw: the most calls answered at once (twin) and claimed at once (Redis), and whether a call rang while the cluster was full.
  const seen = { answered: 0, claimed: 0, ringingWhileFull: false };
  let sampler: NodeJS.Timeout | undefined;
  let placed = 0;

  const twinCalls = async () => ((await (await fetch(`${twin.controlUrl}/calls`)).json()) as { records: Array<{ id: string; state: string; telephonySessionId: string }> }).records;
  const twinCall = async (id: string) => (await (await fetch(`${twin.controlUrl}/calls/${id}`)).json()) as TwinCall;
  const place = async (opts: { hz: number; hangupAfterMs: number }) => {
    const from = `+1555000${String(7000 + ++placed)}`;
    const res = await fetch(`${twin.controlUrl}/calls`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ from, play: `tone:${opts.hz}`, hangupAfterMs: opts.hangupAfterMs }) });
    expect(res.status).toBe(201);
    return { ...((await res.json()) as { callId: string; telephonySessionId: string }), from, hz: opts.hz };
  };
  const streamsOf = (tsid: string) => pipeline.streams.filter((s) => s.start?.callSid === tsid);
  const live = () => hosts.filter((h) => h.alive);
  const dumpLogs = () =>
    onTestFailed(() => {
      for (const h of hosts) console.error(`── ${h.hostId} (last lines)\n${h.log.slice(-40).join("\n")}`);
    });

  /** One call, after it ended: one leg answered, the others cancelled (none declined); one pipeline stream; audio both ways. */
  async function checkCall(c: { callId: string; telephonySessionId: string; hz: number }) {
    const view = await twinCall(c.callId);
    expect(view.answeredAtMs).not.toBeNull();
    expect(view.legs.filter((l) => l.outcome === "answered")).toHaveLength(1);
    expect(view.legs.filter((l) => l.outcome === "declined")).toEqual([]);
    const streams = streamsOf(c.telephonySessionId);
    expect(streams).toHaveLength(1);
    const audio = Float32Array.from(streams[0].audio);
    expect(audio.length).toBeGreaterThan(8000);
    expect(Math.abs(dominantHz(audio, 8000, Math.floor(audio.length / 3)) - c.hz)).toBeLessThan(15);
    expect(Math.abs((view.heard?.dominantHz ?? 0) - AGENT_HZ)).toBeLessThan(15);
  }

  beforeAll(async () => {
    redis = await TestRedis.start();
    raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    raw.on("error", () => {});
    twin = await startTwin({ log: pino({ level: "silent" }) });
    pipeline = await startTestPipeline(() => speakTone(AGENT_HZ));
    const env = { ...twinEnv(twin), PIPELINE_URL: pipeline.url, REDIS_URL: redis.url, CLUSTER_MAX_CONCURRENT_CALLS: String(CLUSTER_MAX), MAX_CONCURRENT_CALLS: "2", LOG_LEVEL: "info" };
    hosts = await Promise.all(["h1", "h2", "h3"].map((id) => HostProc.spawn(id, API_TOKEN, env)));
    try {
      await until(async () => (await Promise.all(hosts.map((h) => h.ready()))).every((r) => r?.status === 200), "three hosts ready", 100_000);
    } catch (err) {
      for (const h of hosts) console.error(`── ${h.hostId}\n${h.log.slice(-30).join("\n")}`);
      throw err;
    }
    const { records } = (await (await fetch(`${twin.controlUrl}/registrations`)).json()) as { records: Array<{ instanceId: string; extensionId: string }> };
    expect(records).toHaveLength(3);
    keys = new ClusterKeys(records[0].extensionId);
    sampler = setInterval(() => {
      void (async () => {
        const calls = await twinCalls();
        const answered = calls.filter((c) => c.state === "answered").length;
        seen.answered = Math.max(seen.answered, answered);
        if (answered === CLUSTER_MAX && calls.some((c) => c.state === "ringing")) seen.ringingWhileFull = true;
        seen.claimed = Math.max(seen.claimed, await raw.zcard(keys.active));
      })().catch(() => {});
    }, 100);
  }, 120_000);

  afterAll(async () => {
    clearInterval(sampler);
    await Promise.all(hosts.map((h) => h.stop()));
    await pipeline?.close();
    await twin?.stop();
    raw?.disconnect();
    await redis?.stop();
  }, 60_000);

  it(`5 calls with CLUSTER_MAX_CONCURRENT_CALLS ${CLUSTER_MAX}: each answered by one host into one pipeline stream, audio both ways; the rest ring until a claim frees`, async () => {
    dumpLogs();
    const calls: Array<Awaited<ReturnType<typeof place>>> = [];
    // One after another (each rung on the three hosts before the next), not all in one instant.
    for (let i = 0; i < 5; i++) calls.push(await place({ hz: 400 + 60 * i, hangupAfterMs: 3000 }));
    await until(async () => (await twinCalls()).filter((c) => calls.some((p) => p.callId === c.id)).every((c) => c.state === "ended"), "the five calls answered and ended", 60_000);
    for (const c of calls) await checkCall(c);
    expect(seen.answered).toBe(CLUSTER_MAX);
    expect(seen.claimed).toBeLessThanOrEqual(CLUSTER_MAX);
    expect(seen.ringingWhileFull).toBe(true);
    // Every claim given back (tombstones only): nothing in progress.
    await until(async () => (await raw.zcard(keys.active)) === 0, "no claim in progress");
  }, 90_000);

  it("GET /calls/{id} and POST /calls/{id}/hangup through a host that does not own the call", async () => {
    dumpLogs();
    const c = await place({ hz: 500, hangupAfterMs: 60_000 });
    await until(async () => (await twinCalls()).find((r) => r.id === c.callId)?.state === "answered", "the answer", 20_000);
    const listed = await until(async () => (await hosts[0].api("/calls")).body.records?.find((r) => r.telephonySessionId === c.telephonySessionId && r.state === "answered"), "the call in the cluster's list");
    const owner = hosts.find((h) => h.hostId === listed.host)!;
    const [other, third] = hosts.filter((h) => h !== owner);
    // Audio to measure before the hangup: 1.5 s of the caller at the pipeline.
    await until(() => (streamsOf(c.telephonySessionId)[0]?.audio.length ?? 0) >= 12_000, "1.5 s of caller audio at the pipeline", 15_000);
    const got = await other.api(`/calls/${listed.id}`);
    expect(got).toMatchObject({ status: 200, body: { id: listed.id, state: "answered", host: owner.hostId, telephonySessionId: c.telephonySessionId } });
    const hung = await other.api(`/calls/${listed.id}/hangup`, "POST");
    expect(hung.status).toBe(200);
    await until(async () => (await twinCalls()).find((r) => r.id === c.callId)?.state === "ended", "the twin's call to end", 10_000);
    await until(async () => (await third.api(`/calls/${listed.id}`)).body.state === "ended", "the call ended, seen through the third host");
    expect((await twinCall(c.callId)).endReason).toBe("agent-hangup");
    await checkCall(c);
  }, 60_000);

  it("SIGKILL the host of a call in progress: its call ends host-lost and its claim is freed within 10 s; the others answer the next call", async () => {
    dumpLogs();
    const c = await place({ hz: 560, hangupAfterMs: 60_000 });
    await until(async () => (await twinCalls()).find((r) => r.id === c.callId)?.state === "answered", "the answer", 20_000);
    const listed = await until(async () => (await hosts[0].api("/calls")).body.records?.find((r) => r.telephonySessionId === c.telephonySessionId && r.state === "answered"), "the call in the cluster's list");
    const owner = hosts.find((h) => h.hostId === listed.host)!;
    const survivor = hosts.find((h) => h !== owner)!;
    const claimKey = `tsid:${c.telephonySessionId}`;
    expect(await raw.get(keys.claim(claimKey))).toBe(owner.hostId);

    const t0 = Date.now();
    await owner.kill();
    const ended = await until(async () => {
      const v = (await survivor.api(`/calls/${listed.id}`)).body;
      return v.state === "ended" ? v : undefined;
    }, "the call ended cluster-wide", 15_000);
    const endedS = (Date.now() - t0) / 1000;
    await until(async () => (await raw.get(keys.claim(claimKey))) === null && (await raw.zscore(keys.active, claimKey)) === null, "the claim freed", 15_000);
    const freedS = (Date.now() - t0) / 1000;
    console.info(`SIGKILL of ${owner.hostId} → call ended host-lost after ${endedS.toFixed(2)} s, claim freed after ${freedS.toFixed(2)} s`);
    expect(ended).toMatchObject({ endReason: "host-lost", host: owner.hostId });
    expect(freedS).toBeLessThan(10);
    expect(await raw.sismember(keys.hosts, owner.hostId)).toBe(0);
    await fetch(`${twin.controlUrl}/calls/${c.callId}`, { method: "DELETE" });

    const next = await place({ hz: 620, hangupAfterMs: 3000 });
    await until(async () => (await twinCalls()).find((r) => r.id === next.callId)?.state === "ended", "the next call answered and ended", 30_000);
    await checkCall(next);
    const answeredBy = (await survivor.api("/calls")).body.records!.find((r) => r.telephonySessionId === next.telephonySessionId)!.host;
    expect(live().map((h) => h.hostId)).toContain(answeredBy);
  }, 60_000);

  it("Redis stopped mid-run: every host unready, none claims the call that rings meanwhile; back: ready, and that call is answered once", async () => {
    dumpLogs();
    const t0 = Date.now();
    await redis.kill();
    await until(async () => (await Promise.all(live().map((h) => h.ready()))).every((r) => r?.status === 503 && r.body.cluster?.reason?.includes("unreachable")), "every host unready", 15_000);
    const unreadyS = (Date.now() - t0) / 1000;
    const c = await place({ hz: 680, hangupAfterMs: 3000 });
    // Each live host saw it ring and left it (Redis away): no claim, no answer, no stream.
    await until(() => live().every((h) => h.log.some((l) => l.includes(c.from) && l.includes("left ringing") && l.includes("Redis unreachable"))), "each host to leave the call ringing", 15_000);
    expect((await twinCalls()).find((r) => r.id === c.callId)?.state).toBe("ringing");
    expect(streamsOf(c.telephonySessionId)).toEqual([]);
    expect((await twinCall(c.callId)).legs.filter((l) => l.outcome === "declined")).toEqual([]);

    const t1 = Date.now();
    await redis.restart();
    await until(async () => (await Promise.all(live().map((h) => h.ready()))).every((r) => r?.status === 200), "every host ready again", 20_000);
    const readyS = (Date.now() - t1) / 1000;
    await until(async () => (await twinCalls()).find((r) => r.id === c.callId)?.state === "answered", "the waiting call answered", 20_000);
    const answeredS = (Date.now() - t1) / 1000;
    console.info(`Redis killed → every host's /ready 503 after ${unreadyS.toFixed(2)} s; restarted → /ready 200 after ${readyS.toFixed(2)} s, the call that rang meanwhile answered after ${answeredS.toFixed(2)} s`);
    await until(async () => (await twinCalls()).find((r) => r.id === c.callId)?.state === "ended", "that call ended", 20_000);
    await checkCall(c);
  }, 90_000);
});

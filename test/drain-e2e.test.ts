/**
 * The drain, end to end (`npm start`'s entry as its own process, real Chrome, the twin, and for the
 * cluster a real Redis): SIGTERM turns /ready 503 at once, a new call is left ringing (never
 * declined, not even when the host unregisters), the call in progress keeps its audio both ways
 * until the caller hangs up, then the host exits 0 and its registration is gone. DRAIN_TIMEOUT_S
 * hangs up what is left (`drain-timeout`). Two hosts on one extension: the next calls go to the
 * host that is not draining.
 */
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { dominantHz, rmsDbfs } from "../twin/caller/analysis.ts";
import { startTwin, type Twin } from "../twin/server.ts";
import { startCliHost, type CliHost } from "./support/cli-host.ts";
import { TestRedis } from "./support/redis.ts";
import { decodeWav, type TwinCallView } from "./support/stack.ts";
import { speakTone, startTestPipeline } from "./support/twilio-pipeline.ts";
import { until } from "./support/until.ts";

const API_TOKEN = "drain-e2e-token-0123456789";
const AGENT_HZ = 880;
const CALLER_HZ = 440;

let twin: Twin;
let pipeline: Awaited<ReturnType<typeof startTestPipeline>>;
const hosts: CliHost[] = [];
beforeAll(async () => {
  twin = await startTwin({ log: pino({ level: "silent" }) });
  pipeline = await startTestPipeline(() => speakTone(AGENT_HZ));
});
// Whatever a test left running (it failed halfway) is gone before the next one counts registrations.
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.kill();
  await until(async () => (await registrations()).length === 0, "no registration left");
});
afterAll(async () => {
  await pipeline?.close();
  await twin?.stop();
});

type Leg = { outcome: string; instanceId: string };
const twinCall = async (id: string) => (await (await fetch(`${twin.controlUrl}/calls/${id}`)).json()) as TwinCallView & { legs: Leg[] };
const twinState = async (id: string) => ((await (await fetch(`${twin.controlUrl}/calls`)).json()) as { records: Array<{ id: string; state: string }> }).records.find((r) => r.id === id)?.state;
const registrations = async () => ((await (await fetch(`${twin.controlUrl}/registrations`)).json()) as { records: Array<{ instanceId: string }> }).records;
async function ring(from: string): Promise<{ callId: string; telephonySessionId: string }> {
  const res = await fetch(`${twin.controlUrl}/calls`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ from, play: `tone:${CALLER_HZ}`, codecs: ["PCMU"] }) });
  expect(res.status).toBe(201);
  return (await res.json()) as { callId: string; telephonySessionId: string };
}
const api = async (h: CliHost, path: string, method = "GET", body?: unknown) => {
  const res = await fetch(`${h.httpUrl}${path}`, { method, headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" }, ...(body !== undefined && { body: JSON.stringify(body) }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { records?: Array<Record<string, unknown>> } };
};
async function start(name: string, env: Record<string, string> = {}): Promise<CliHost> {
  const h = await startCliHost(twin, { PIPELINE_URL: pipeline.url, API_TOKEN, ...env }, name);
  hosts.push(h);
  await until(async () => (await h.ready()).status === 200, `${name} to be ready`, 60_000);
  return h;
}

const streamOf = (telephonySessionId: string) => pipeline.streams.find((s) => s.start?.callSid === telephonySessionId);

/** The caller audio the pipeline got after sample `fromSample`, and what the caller heard after `fromMs` (the twin's recording). */
async function audioSince(callId: string, telephonySessionId: string, fromSample: number, fromMs: number) {
  const atPipeline = Float32Array.from(streamOf(telephonySessionId)!.audio.slice(fromSample));
  const wav = decodeWav(Buffer.from(await (await fetch(`${twin.controlUrl}/calls/${callId}/recording.wav`)).arrayBuffer()));
  const heardFrom = (await twinCall(callId)).heard!.startedAtMs!;
  const atCaller = wav.samples.subarray(Math.max(0, Math.round(((fromMs - heardFrom) / 1000) * wav.rate)));
  return { atPipeline, atCaller, callerRate: wav.rate };
}

function expectTone(samples: Float32Array, rate: number, hz: number, minS: number): void {
  expect(samples.length / rate).toBeGreaterThanOrEqual(minS);
  // Each second carries the tone, and each quarter second has its level: no gap of silence.
  for (let from = 0; from + rate <= samples.length; from += rate) expect(Math.abs(dominantHz(samples, rate, from, from + rate) - hz)).toBeLessThan(hz * 0.02);
  for (let from = 0; from + rate / 4 <= samples.length; from += rate / 4) expect(rmsDbfs(samples, from, from + rate / 4)).toBeGreaterThan(-30);
}

describe("drain, one host", () => {
  it("SIGTERM: /ready 503 at once, a new call rings on (never declined), the call in progress keeps its audio until the caller hangs up, then exit 0", async () => {
    const h = await start("drain-one");
    const first = await ring("+15550007001");
    await until(async () => (await twinState(first.callId)) === "answered", "the first call answered", 20_000);
    await until(() => (streamOf(first.telephonySessionId)?.audio.length ?? 0) > 8000, "a second of caller audio at the pipeline", 20_000);
    await until(async () => ((await twinCall(first.callId)).heard?.frames ?? 0) > 50, "a second of agent audio at the caller", 20_000);

    const sigtermAtMs = Date.now();
    const sampleAtSigterm = streamOf(first.telephonySessionId)!.audio.length;
    h.signal("SIGTERM");
    const draining = await until(async () => {
      const r = await h.ready();
      return r.status === 503 ? r : undefined;
    }, "/ready 503");
    const readyMs = Date.now() - sigtermAtMs;
    expect(draining.body).toMatchObject({ ready: false, draining: { by: "SIGTERM", callsInProgress: 1 } });
    expect(draining.body.reason).toMatch(/^draining since .* \(SIGTERM\): taking no new call; 1 call\(s\) in progress go on until they end or /);
    expect(await (await fetch(`${h.httpUrl}/metrics`)).text()).toMatch(/^rcvh_draining 1$/m);
    const refused = await api(h, "/calls", "POST", { to: "+15550001234" });
    expect(refused).toMatchObject({ status: 503, body: { error: "unavailable", message: expect.stringMatching(/draining/) } });

    // A new call: left ringing here for another device, not declined.
    const second = await ring("+15550007002");
    await until(async () => (await api(h, "/calls")).body.records?.find((c) => c.telephonySessionId === second.telephonySessionId && c.endReason === "refused: this host is draining"), "the new call left ringing");
    expect(await twinCall(second.callId)).toMatchObject({ state: "ringing", legs: [{ outcome: "ringing" }] });

    // The call in progress: audio both ways, well after the SIGTERM.
    await until(() => streamOf(first.telephonySessionId)!.audio.length - sampleAtSigterm >= 3 * 8000, "3 s more of caller audio at the pipeline", 20_000);
    const after = await audioSince(first.callId, first.telephonySessionId, sampleAtSigterm, sigtermAtMs);
    expectTone(after.atPipeline, 8000, CALLER_HZ, 3);
    expectTone(after.atCaller, after.callerRate, AGENT_HZ, 2);
    expect(h.child.exitCode).toBeNull();

    await fetch(`${twin.controlUrl}/calls/${first.callId}`, { method: "DELETE" });
    const lastEndMs = Date.now();
    const exit = await h.exited;
    expect(exit.code).toBe(0);
    expect(await registrations()).toHaveLength(0);
    // The ringing call was never declined: the host's unregister only took its own leg away.
    const secondAfter = await twinCall(second.callId);
    expect(secondAfter.legs.map((l) => l.outcome)).not.toContain("declined");
    expect(secondAfter.endReason).not.toBe("declined");
    expect(h.lines().find((l) => l.msg === "call: ended" && l.reason === "remote-hangup")).toBeTruthy();
    console.info(`drain: SIGTERM → /ready 503 in ${readyMs} ms; last call end → exit ${exit.atMs - lastEndMs} ms; the ringing call's leg ${secondAfter.legs[0].outcome}, call ${secondAfter.state}/${secondAfter.endReason}`);
  });

  it("DRAIN_TIMEOUT_S=2: the call still up is hung up drain-timeout, then exit 0", async () => {
    const h = await start("drain-timeout", { DRAIN_TIMEOUT_S: "2" });
    const call = await ring("+15550007003");
    await until(async () => (await twinState(call.callId)) === "answered", "the call answered", 20_000);
    const sigtermAtMs = Date.now();
    h.signal("SIGTERM");
    const exit = await h.exited;
    expect(exit.code).toBe(0);
    const exitS = (exit.atMs - sigtermAtMs) / 1000;
    expect(exitS).toBeGreaterThanOrEqual(2);
    expect(await twinCall(call.callId)).toMatchObject({ state: "ended", endReason: "agent-hangup" });
    const ended = h.lines().find((l) => l.msg === "call: ended");
    expect(ended).toMatchObject({ reason: "drain-timeout" });
    expect(streamOf(call.telephonySessionId)!.stopped).toBe(true);
    expect(await registrations()).toHaveLength(0);
    console.info(`drain: DRAIN_TIMEOUT_S=2, SIGTERM → exit ${exitS.toFixed(2)} s`);
  });

  it("POST /admin/drain needs the API token, then drains as SIGTERM does; a second signal hangs up at once", async () => {
    const h = await start("drain-api");
    expect((await fetch(`${h.httpUrl}/admin/drain`, { method: "POST" })).status).toBe(401);
    expect((await fetch(`${h.httpUrl}/admin/drain`, { method: "POST", headers: { authorization: "Bearer wrong-token-0123456789" } })).status).toBe(403);
    expect((await h.ready()).status).toBe(200);
    const call = await ring("+15550007004");
    await until(async () => (await twinState(call.callId)) === "answered", "the call answered", 20_000);
    const drained = await api(h, "/admin/drain", "POST");
    expect(drained).toMatchObject({ status: 202, body: { draining: { by: "POST /admin/drain", callsInProgress: 1 } } });
    expect((await h.ready()).status).toBe(503);
    expect(await twinState(call.callId)).toBe("answered");
    // The operator insists: every call hung up now, then the same clean exit.
    h.signal("SIGTERM");
    const exit = await h.exited;
    expect(exit.code).toBe(0);
    expect(await twinCall(call.callId)).toMatchObject({ state: "ended", endReason: "agent-hangup" });
    expect(await registrations()).toHaveLength(0);
  });
});

describe("drain, two hosts on Redis", () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it("host A draining mid-call: its call goes on, the next calls are answered by host B", async () => {
    const env = { REDIS_URL: redis.url };
    const one = await start("drain-a", { ...env, HOST_ID: "drain-a" });
    const two = await start("drain-b", { ...env, HOST_ID: "drain-b" });
    expect(await registrations()).toHaveLength(2);
    const first = await ring("+15550007011");
    await until(async () => (await twinState(first.callId)) === "answered", "the first call answered", 20_000);
    const owner = await until(async () => (await api(one, "/calls")).body.records?.find((c) => c.telephonySessionId === first.telephonySessionId && c.state === "answered")?.host as string | undefined, "the first call's owner");
    const [a, b] = owner === "drain-a" ? [one, two] : [two, one];

    a.signal("SIGTERM");
    await until(async () => (await a.ready()).status === 503, "A's /ready 503");
    const drainedAtMs = Date.now();
    const next = await ring("+15550007012");
    const taken = await until(async () => (await api(b, "/calls")).body.records?.find((c) => c.telephonySessionId === next.telephonySessionId && c.state === "answered"), "B to answer the next call", 20_000);
    const answeredByBMs = Date.now() - drainedAtMs;
    expect(taken.host).toBe(b === one ? "drain-a" : "drain-b");
    expect(await twinState(first.callId)).toBe("answered");
    await until(() => (streamOf(next.telephonySessionId)?.audio.length ?? 0) > 8000, "caller audio of B's call at the pipeline", 20_000);

    // A's call ends; A exits 0; B's call is untouched by A's unregister.
    await fetch(`${twin.controlUrl}/calls/${first.callId}`, { method: "DELETE" });
    expect((await a.exited).code).toBe(0);
    expect(await registrations()).toHaveLength(1);
    expect(await twinState(next.callId)).toBe("answered");
    await fetch(`${twin.controlUrl}/calls/${next.callId}`, { method: "DELETE" });
    b.signal("SIGTERM");
    expect((await b.exited).code).toBe(0);
    expect(await registrations()).toHaveLength(0);
    console.info(`drain: host A draining → next call answered by B in ${answeredByBMs} ms (from the ring)`);
  });
});

/**
 * `npm start` (the real CLI, real Chrome) against the twin while RingCentral's REST misbehaves
 * (the twin's REST faults): a transient outage delays the start, a definitive refusal ends it
 * with one line, and subscriptions a crashed run left behind are removed.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SDK } from "@ringcentral/sdk";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startTwin, type Twin } from "../twin/server.ts";
import { spawnHostCli } from "./support/host-cli.ts";
import { twinEnv } from "./support/stack.ts";
import { until } from "./support/until.ts";

let twin: Twin;
let pipeline: Server;
let pipelineUrl: string;

beforeAll(async () => {
  twin = await startTwin({ log: pino({ level: "silent" }) });
  // Nothing here dials the pipeline; it only has to be a valid address.
  pipeline = createServer();
  await new Promise<void>((r) => pipeline.listen(0, "127.0.0.1", r));
  pipelineUrl = `ws://127.0.0.1:${(pipeline.address() as AddressInfo).port}`;
});
afterAll(async () => {
  pipeline?.close();
  await twin?.stop();
});
/** Hosts a test left running (it failed half-way) are stopped, so the next test meets no registration of theirs. */
const running = new Set<ReturnType<typeof runCli>>();
afterEach(async () => {
  await Promise.all([...running].map((h) => h.stop()));
  await until(async () => ((await control("/registrations")).records as unknown[]).length === 0, "every host un-REGISTERed");
  await control("/faults", "DELETE");
});

type Line = Record<string, unknown> & { msg: string; level: string };

/** The CLI as a process: its JSON log lines, its stderr, and its exit. */
function runCli(env: Record<string, string>, cacheName: string) {
  const child = spawnHostCli({ ...twinEnv(twin), PIPELINE_URL: pipelineUrl, HTTP_PORT: "0", ...env }, `${cacheName}-${Date.now()}`);
  const lines: Line[] = [];
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
    const parts = stdout.split("\n");
    stdout = parts.pop()!;
    for (const p of parts.filter(Boolean)) lines.push(JSON.parse(p) as Line);
  });
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const host = {
    lines,
    stderr: () => stderr,
    exited,
    ready: () => until(() => lines.find((l) => l.msg === "host: ready"), "host: ready", 45_000),
    async stop(): Promise<number | null> {
      child.kill("SIGTERM");
      return exited;
    },
  };
  running.add(host);
  void exited.then(() => running.delete(host));
  return host;
}

const control = async (path: string, method = "GET", body?: unknown) => {
  const res = await fetch(`${twin.controlUrl}${path}`, { method, headers: body ? { "content-type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined });
  return res.json();
};
const registered = async () => ((await control("/registrations")).records as unknown[]).length === 1;
const restFault = (body: Record<string, unknown>) => control("/faults/rest", "POST", body);

describe("start-up while RingCentral's REST misbehaves", () => {
  let baselineMs = 0;

  it("baseline: starts and registers", async () => {
    const host = runCli({}, "rest-start-baseline");
    const ready = await host.ready();
    baselineMs = ready.startupMs as number;
    // The timeline: when each step ended. Chrome's steps overlap RingCentral's; registration needs
    // the page and the provisioning, not the audio graph, which may end after "host: ready".
    const t = ready.timelineMs as Record<string, number>;
    console.log(`start-up timeline: ${JSON.stringify(t)}`);
    expect(Object.keys(t).filter((k) => k !== "audio").sort()).toEqual(["bundle", "chrome", "login", "page", "provision", "registered"]);
    expect(t.chrome).toBeLessThanOrEqual(t.page);
    expect(t.registered).toBeGreaterThanOrEqual(Math.max(t.page, t.provision));
    expect(t.registered).toBeLessThanOrEqual(ready.startupMs as number);
    // The graph the page began from its address is built, before or after the registration.
    await until(() => host.lines.some((l) => l.msg === "page: audio graph ready"), "the page's audio graph");
    const graph = host.lines.find((l) => l.msg === "page: audio graph ready")!;
    console.log(`audio graph: built in ${graph.buildMs} ms, begun ${graph.startedAtMs} ms into the page's load`);
    expect(graph.buildMs).toEqual(expect.any(Number));
    expect(await registered()).toBe(true);
    expect(await host.stop()).toBe(0);
  });

  it("token endpoint 503 with Retry-After: 1, three times: the start waits it out, logs each wait, registers", async () => {
    await restFault({ method: "POST", path: "/restapi/oauth/token", status: 503, retryAfterS: 1, count: 3 });
    const host = runCli({}, "rest-start-token503");
    const ready = await host.ready();
    const retries = host.lines.filter((l) => l.operation === "login");
    expect(retries.map((l) => [l.level, l.attempt, l.status, l.retryAfterMs])).toEqual([
      ["warn", 1, 503, 1000],
      ["warn", 2, 503, 1000],
      ["warn", 3, 503, 1000],
    ]);
    // At least what Retry-After asks; the jitter only lengthens it once its range passes 1 s (retry 3: up to 2 s).
    expect(retries.map((l) => l.waitMs)).toEqual([1000, 1000, expect.any(Number)]);
    expect(retries[2].waitMs as number).toBeGreaterThanOrEqual(1000);
    expect(retries[2].waitMs as number).toBeLessThan(2000);
    expect(retries[0].msg).toMatch(/^ringcentral: login failed \(503: Service Temporary Unavailable\), retrying in 1000 ms$/);
    expect(await registered()).toBe(true);
    const delayMs = (ready.startupMs as number) - baselineMs;
    console.log(`start-up under token 503 ×3 (Retry-After 1): ${ready.startupMs} ms, baseline ${baselineMs} ms, delay ${delayMs} ms`);
    expect(ready.startupMs as number).toBeGreaterThanOrEqual(3000);
    expect(await host.stop()).toBe(0);
  });

  it("sip-provision 500 three times: starts after three backoffs", async () => {
    await restFault({ method: "POST", path: "/restapi/v1.0/client-info/sip-provision", status: 500, count: 3 });
    const host = runCli({}, "rest-start-provision500"); // a fresh sipInfo cache: it must provision
    const ready = await host.ready();
    const retries = host.lines.filter((l) => l.operation === "sip-provision");
    expect(retries.map((l) => [l.attempt, l.status, l.reason])).toEqual([
      [1, 500, "server-error"],
      [2, 500, "server-error"],
      [3, 500, "server-error"],
    ]);
    const waitedMs = retries.reduce((s, l) => s + (l.waitMs as number), 0);
    console.log(`start-up under sip-provision 500 ×3: ${ready.startupMs} ms (backoff waits ${retries.map((l) => l.waitMs).join(" + ")} = ${waitedMs} ms), baseline ${baselineMs} ms`);
    expect(waitedMs).toBeLessThan(500 + 1000 + 2000);
    expect((await control("/faults")).rest[0].used).toBe(3);
    expect(await registered()).toBe(true);
    expect(await host.stop()).toBe(0);
  });

  it("401 from the token endpoint (wrong client secret): exits 1 at once with one line naming what to fix", async () => {
    const host = runCli({ RINGCENTRAL_CLIENT_SECRET: "not-the-secret-0123456789" }, "rest-start-401");
    expect(await host.exited).toBe(1);
    const stderr = host.stderr().split("\n").filter(Boolean);
    expect(stderr).toEqual([expect.stringMatching(/^error: RingCentral refused the login \(401: .+\): check RINGCENTRAL_CLIENT_ID, RINGCENTRAL_CLIENT_SECRET and RINGCENTRAL_JWT_TOKEN$/)]);
    expect(host.lines.filter((l) => l.level !== "info")).toEqual([]);
    expect(host.lines.some((l) => l.operation === "login")).toBe(false); // not retried
  });

  it("a subscription a crashed run left at our address is removed at start; another address's is left alone", async () => {
    // The earlier run's address, and another app instance's: each has to answer the handshake when its subscription is made.
    const handshake = createServer((req, res) => {
      res.writeHead(200, { "validation-token": String(req.headers["validation-token"] ?? "") });
      res.end();
    });
    const other = createServer((req, res) => {
      res.writeHead(200, { "validation-token": String(req.headers["validation-token"] ?? "") });
      res.end();
    });
    await new Promise<void>((r) => handshake.listen(0, "127.0.0.1", r));
    await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
    const port = (handshake.address() as AddressInfo).port;
    const ours = `http://127.0.0.1:${port}/webhooks/ringcentral`;
    const theirs = `http://127.0.0.1:${(other.address() as AddressInfo).port}/webhooks/ringcentral`;
    const admin = new SDK({ server: twin.restUrl, clientId: twin.clientId, clientSecret: twin.clientSecret, cachePrefix: "rest-start-admin-" }).platform();
    await admin.login({ jwt: twin.jwt });
    const subscribe = async (address: string) =>
      (await (await admin.post("/restapi/v1.0/subscription", { eventFilters: ["/restapi/v1.0/account/~/extension/~/telephony/sessions"], deliveryMode: { transportType: "WebHook", address }, expiresIn: 3600 })).json()).id as string;
    const stale = await subscribe(ours);
    const foreign = await subscribe(theirs);
    // The crashed run is gone: its port is free for the new one.
    await new Promise((r) => handshake.close(r));
    other.close();
    const list = async () => (await (await admin.get("/restapi/v1.0/subscription")).json()).records as Array<{ id: string; status: string; deliveryMode: { address: string } }>;

    const host = runCli({ HTTP_PORT: String(port), WEBHOOK_PUBLIC_URL: `http://127.0.0.1:${port}`, ANSWER_MODE: "webhook" }, "rest-start-stale");
    await host.ready();
    const after = await list();
    expect(after.find((s) => s.id === stale)).toBeUndefined();
    expect(after.find((s) => s.id === foreign)).toMatchObject({ status: "Active", deliveryMode: { address: theirs } });
    const mine = after.filter((s) => s.deliveryMode.address === ours);
    expect(mine).toHaveLength(1);
    expect(mine[0].id).not.toBe(stale);
    expect(host.lines.filter((l) => l.msg === "webhook: removed a subscription an earlier run left at our address").map((l) => l.subscriptionId)).toEqual([stale]);
    expect(await host.stop()).toBe(0);
    expect((await list()).filter((s) => s.deliveryMode.address === ours)).toEqual([]);
    await admin.delete(`/restapi/v1.0/subscription/${foreign}`);
    await admin.logout();
  });
});

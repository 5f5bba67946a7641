/**
 * The shared call registry and forwarded actions, through the real API routes of each host:
 * GET /calls on any host lists the cluster's calls with their owner; an action on a host that does
 * not own the call is carried out by the owner and its answer comes back; 503 when the owner is gone.
 */
import { spawn } from "node:child_process";
import type { Server } from "node:http";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiRouter, type ApiHost } from "../host/api.ts";
import type { Call } from "../host/calls.ts";
import type { ClusterTiming } from "../host/cluster/cluster.ts";
import { listenHttp } from "../host/http.ts";
import { twilioRestRouter } from "../host/twilio-rest.ts";
import { ClusterTestHost, Line } from "./support/cluster-hosts.ts";
import { quietLog } from "./support/fake-page.ts";
import { TestRedis } from "./support/redis.ts";
import { until } from "./support/until.ts";

const TOKEN = "cluster-api-token-0123456789";
const root = fileURLToPath(new URL("..", import.meta.url));
let redis: TestRedis;
let ext = 0;

beforeAll(async () => {
  redis = await TestRedis.start();
});
afterAll(async () => {
  await redis?.stop();
});

/** A test host with the product's API and Twilio routes on a port of its own. */
async function withApi(h: ClusterTestHost) {
  const api: ApiHost & Parameters<typeof twilioRestRouter>[0] = {
    placeCall: () => Promise.reject(new Error("no outbound calls here")),
    listCalls: () => h.actions.list(),
    viewCall: (id) => h.actions.view(id),
    act: (id, a) => h.actions.act(id, a),
    callIdFor: (sid) => h.actions.callIdFor(sid),
  };
  const app = express();
  app.use(twilioRestRouter(api, TOKEN));
  app.use(apiRouter(api, TOKEN));
  const server: Server = await listenHttp(app, "127.0.0.1", 0, quietLog);
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const call = async (method: "GET" | "POST", path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined && { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { records?: Array<Record<string, unknown>> } };
  };
  return { host: h, url, call, close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))) };
}

async function cluster(n: number, timing: Partial<ClusterTiming> = {}) {
  const extensionId = `calls-${process.pid}-${++ext}`;
  const hosts = await Promise.all(Array.from({ length: n }, (_, i) => ClusterTestHost.start(redis.url, { hostId: `h${i + 1}`, extensionId, slots: 1, timing })));
  const apis = await Promise.all(hosts.map(withApi));
  return {
    extensionId,
    hosts,
    apis,
    line: new Line(hosts),
    stop: async () => {
      await Promise.all(apis.map((a) => a.close()));
      await Promise.all(hosts.map((h) => h.stop()));
    },
  };
}

/** The host that answered `telephonySessionId`, and its call. */
function ownerOf(hosts: ClusterTestHost[], telephonySessionId: string): { owner: ClusterTestHost; call: Call; others: ClusterTestHost[] } {
  const owner = hosts.find((h) => h.answered().includes(telephonySessionId))!;
  const call = owner.calls.list().find((c) => c.telephonySessionId === telephonySessionId)!;
  return { owner, call, others: hosts.filter((h) => h !== owner) };
}

describe("the shared call registry", () => {
  it("GET /calls on any host lists every host's calls with their owner; ended calls stay listed", async () => {
    const c = await cluster(3);
    try {
      for (const s of ["s-1", "s-2", "s-3"]) await c.line.ring(s);
      const lists = await Promise.all(c.apis.map((a) => a.call("GET", "/calls")));
      for (const l of lists) {
        expect(l.status).toBe(200);
        // One record per call (not one per host it rang on), each with the host that answered it.
        expect(l.body.records!.map((r) => [r.telephonySessionId, r.state]).sort()).toEqual([
          ["s-1", "answered"],
          ["s-2", "answered"],
          ["s-3", "answered"],
        ]);
        expect(new Set(l.body.records!.map((r) => r.host))).toEqual(new Set(["h1", "h2", "h3"]));
      }
      const { owner, call, others } = ownerOf(c.hosts, "s-2");
      const one = await c.apis[c.hosts.indexOf(others[0])].call("GET", `/calls/${call.id}`);
      expect(one).toMatchObject({ status: 200, body: { id: call.id, host: owner.id, state: "answered", telephonySessionId: "s-2" } });

      owner.remoteEnd(call);
      await until(async () => (await c.apis[c.hosts.indexOf(others[1])].call("GET", `/calls/${call.id}`)).body.endReason === "remote-hangup", "the end, seen from another host");
      const after = await c.apis[0].call("GET", "/calls");
      expect(after.body.records!.find((r) => r.id === call.id)).toMatchObject({ state: "ended", endReason: "remote-hangup", host: owner.id });
    } finally {
      await c.stop();
    }
  });
});

describe("actions on another host's call", () => {
  it("are done by the owner, and its answer comes back: hangup, DTMF, an error, a conflict, a timeout, the Twilio route", async () => {
    const c = await cluster(3, { forwardTimeoutMs: 800 });
    try {
      for (const s of ["s-a", "s-b", "s-c"]) await c.line.ring(s);
      const a = ownerOf(c.hosts, "s-a");
      const asker = c.apis[c.hosts.indexOf(a.others[0])];

      const dtmf = await asker.call("POST", `/calls/${a.call.id}/dtmf`, { digits: "12#" });
      expect(dtmf).toMatchObject({ status: 200, body: { id: a.call.id, host: a.owner.id, state: "answered" } });
      expect(a.owner.page.sent.filter((s) => s.type === "dtmf")).toEqual([expect.objectContaining({ sipCallId: a.call.sipCallId, digits: "12#" })]);

      a.owner.page.failing.add("hold");
      const failed = await asker.call("POST", `/calls/${a.call.id}/hold`);
      expect(failed).toEqual({ status: 500, body: { error: "error", message: "page could not hold" } });

      a.owner.page.holding.add("mute");
      const late = await asker.call("POST", `/calls/${a.call.id}/mute`);
      expect(late).toEqual({ status: 504, body: { error: "timeout", message: `host ${a.owner.id}, which owns call ${a.call.id}, did not answer within 800 ms` } });
      a.owner.page.release("mute");

      const hungUp = await asker.call("POST", `/calls/${a.call.id}/hangup`);
      expect(hungUp.status).toBe(200);
      expect(a.owner.page.types()).toContain("hangup");
      await until(async () => (await asker.call("GET", `/calls/${a.call.id}`)).body.endReason === "api-hangup", "the forwarded hang-up's end");
      // Ended: a control is a conflict, a second hang-up changes nothing, as on the owner itself.
      expect(await asker.call("POST", `/calls/${a.call.id}/unhold`)).toMatchObject({ status: 409, body: { error: "conflict" } });
      expect(await asker.call("POST", `/calls/${a.call.id}/hangup`)).toMatchObject({ status: 200, body: { state: "ended" } });
      expect(await asker.call("POST", "/calls/no-such-call/hangup")).toMatchObject({ status: 404, body: { error: "not_found" } });

      // The pipeline's Twilio hang-up may reach any host: the owner ends the call.
      const b = ownerOf(c.hosts, "s-b");
      const other = c.apis[c.hosts.indexOf(b.others[0])];
      const twilio = await fetch(`${other.url}/2010-04-01/Accounts/AC1/Calls/s-b.json`, {
        method: "POST",
        headers: { authorization: `Basic ${Buffer.from(`AC1:${TOKEN}`).toString("base64")}`, "content-type": "application/x-www-form-urlencoded" },
        body: "Status=completed",
      });
      expect(twilio.status).toBe(200);
      await until(() => b.call.endReason === "pipeline-hangup", "the pipeline's hang-up on the owner");
      // The forks that lost s-b on the other hosts were never touched.
      expect(b.others.flatMap((h) => h.page.sent.filter((s) => s.type === "hangup" && s.sipCallId.startsWith("s-b")))).toEqual([]);
    } finally {
      await c.stop();
    }
  });

  it("503 when the owner is gone; once the reaper ended its calls (host-lost), a conflict", async () => {
    const extensionId = `calls-${process.pid}-${++ext}`;
    const survivor = await withApi(await ClusterTestHost.start(redis.url, { hostId: "survivor", extensionId }));
    const child = spawn(process.execPath, ["--import", "tsx", "test/support/cluster-child.ts"], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", REDIS_URL: redis.url, HOST_ID: "doomed", EXTENSION_ID: extensionId, CALLS: "s-gone" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const held = await new Promise<{ calls: Array<{ id: string }> }>((resolve) => createInterface({ input: child.stdout! }).on("line", (l) => l.startsWith("{") && resolve(JSON.parse(l))));
      const id = held.calls[0].id;
      expect(await survivor.call("GET", `/calls/${id}`)).toMatchObject({ status: 200, body: { host: "doomed", state: "answered" } });
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
      // Its heartbeat has not expired yet, but nobody listens on its channel any more.
      const gone = await survivor.call("POST", `/calls/${id}/hold`);
      expect(gone).toEqual({ status: 503, body: { error: "unavailable", message: `host doomed, which owns call ${id}, is not listening: it is stopping or has lost Redis` } });
      await until(async () => (await survivor.call("GET", `/calls/${id}`)).body.endReason === "host-lost", "the reaper", 10_000);
      expect(await survivor.call("POST", `/calls/${id}/hold`)).toMatchObject({ status: 409, body: { message: `call ${id} is ended, not answered` } });
    } finally {
      child.kill("SIGKILL");
      await survivor.close();
      await survivor.host.stop();
    }
  });
});

import { request, type IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BARE_API_TOKEN, startBareHost, type BareHost } from "./support/bare-host.ts";
import { until } from "./support/until.ts";

/** One open GET /status/events: the events parsed as they come, and whether the server ended it. */
interface Events {
  status: number;
  body: string;
  events: Array<{ event: string; data: unknown }>;
  comments: number;
  ended: boolean;
  close(): void;
}

function openEvents(port: number, headers: Record<string, string> = {}): Promise<Events> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/status/events", headers, agent: false }, (res: IncomingMessage) => {
      const out: Events = { status: res.statusCode!, body: "", events: [], comments: 0, ended: false, close: () => req.destroy() };
      let buffered = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        out.body += chunk;
        buffered += chunk;
        let at: number;
        while ((at = buffered.indexOf("\n\n")) >= 0) {
          const block = buffered.slice(0, at);
          buffered = buffered.slice(at + 2);
          if (block.startsWith(":")) out.comments++;
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) out.events.push({ event, data: JSON.parse(data) });
        }
      });
      res.on("end", () => (out.ended = true));
      res.on("error", () => {});
      resolve(out);
    });
    req.on("error", reject);
    req.end();
  });
}

const FORWARDED = { "x-forwarded-for": "203.0.113.7" };

describe("GET /status and /status/events (no phone)", () => {
  let bare: BareHost;
  beforeAll(async () => {
    // Short HTTP bounds: a stream must outlive them; two viewers at most; quick keepalives.
    bare = await startBareHost({}, { headersMs: 300, requestMs: 300, keepAliveMs: 300, checkEveryMs: 100 }, { maxClients: 2, keepaliveMs: 150, tickMs: 100, checkMs: 100 });
  });
  afterAll(async () => {
    await bare?.stop();
  });

  it("serves the page and its files with a strict CSP, versioned names and ETags", async () => {
    const res = await fetch(`${bare.url}/status`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    const html = await res.text();
    const files = [...html.matchAll(/(?:src|href)="(\/status\/status\.(?:js|css|svg)\?v=[\w-]+)"/g)].map((m) => m[1]);
    expect(files).toHaveLength(3);
    for (const f of files) {
      const a = await fetch(`${bare.url}${f}`);
      expect(a.status, f).toBe(200);
      expect(a.headers.get("cache-control")).toContain("immutable");
      const again = await fetch(`${bare.url}${f}`, { headers: { "if-none-match": a.headers.get("etag")! } });
      expect(again.status, f).toBe(304);
    }
    expect(html).not.toContain(BARE_API_TOKEN);
  });

  it("answers loopback; a forwarded request needs the bearer token: 401 without, 403 wrong, 200 right", async () => {
    expect((await fetch(`${bare.url}/status`, { headers: FORWARDED })).status).toBe(401);
    const wrong = await fetch(`${bare.url}/status/events`, { headers: { ...FORWARDED, authorization: "Bearer wrong-wrong-wrong" } });
    expect(wrong.status).toBe(403);
    expect(await wrong.json()).toMatchObject({ error: "forbidden", message: expect.stringMatching(/wrong/) });
    expect((await fetch(`${bare.url}/status`, { headers: { ...FORWARDED, authorization: `Bearer ${BARE_API_TOKEN}` } })).status).toBe(200);
    // Without API_TOKEN the page is loopback-only, and says how to reach it from elsewhere.
    const open = await startBareHost({ API_TOKEN: "" });
    try {
      expect((await fetch(`${open.url}/status`)).status).toBe(200);
      const refused = await fetch(`${open.url}/status`, { headers: { ...FORWARDED, authorization: "Bearer anything" } });
      expect(refused.status).toBe(403);
      expect((await refused.json()).message).toMatch(/loopback only; set API_TOKEN/);
    } finally {
      await open.stop();
    }
  });

  it.each([
    ["GET", "/status/nope"],
    ["GET", "/status/status.js/x"],
    ["GET", "/status/..%2fcalls"],
    ["POST", "/status"],
    ["POST", "/status/events"],
  ])("%s %s: a JSON 404", async (method, p) => {
    const res = await fetch(`${bare.url}${p}`, { method });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: "not_found" });
  });

  it("streams a snapshot, then updates as calls change; no secret of a call's in it", async () => {
    const viewer = await openEvents(bare.port);
    try {
      expect(viewer.status).toBe(200);
      const snap = await until(() => viewer.events.find((e) => e.event === "snapshot")?.data as { host: { chrome: boolean }; live: unknown[] } | undefined, "the snapshot");
      expect(snap.host.chrome).toBe(false);
      expect(snap.live).toEqual([]);
      const call = bare.host.calls.add({ sipCallId: "sip-1", direction: "outbound", from: "+15550001111", to: "+15550002222", pipelineUrl: "wss://u:pipeline-pass@example.test/ws?key=pipeline-key", customParameters: { secret: "custom-secret" } });
      const updated = (id: string, where: "live" | "ended") => viewer.events.some((e) => e.event === "update" && (e.data as Record<string, Array<{ id: string }>>)[where]?.some((c) => c.id === id));
      await until(() => updated(call.id, "live"), "the call in an update");
      // What the page shows of an outbound call's AMD and transfer comes with the next update.
      call.amd = { result: "machine", reason: "beep", atMs: Date.now() };
      call.transferTarget = "+15550003333";
      bare.host.calls.changed(call);
      await until(
        () => viewer.events.some((e) => (e.data as { live?: Array<{ id: string; amd: string; transferTarget: string }> }).live?.some((c) => c.id === call.id && c.amd === "machine (beep)" && c.transferTarget === "+15550003333")),
        "AMD and transfer in an update",
      );
      bare.host.calls.end(call, "test over");
      await until(() => updated(call.id, "ended"), "the call ended in an update");
      for (const secret of [BARE_API_TOKEN, "bare-secret", "pipeline-pass", "pipeline-key", "custom-secret"]) expect(viewer.body).not.toContain(secret);
      // Idle: keepalive comments, and the stream outlives the HTTP server's request and keep-alive bounds.
      const comments = viewer.comments;
      await until(() => viewer.comments >= comments + 3, "keepalives");
      expect(viewer.ended).toBe(false);
      // Idle, the page gets no update: no state changed.
      const sent = bare.app.statusHub.sent;
      await until(() => viewer.comments >= comments + 6, "more keepalives");
      expect(bare.app.statusHub.sent).toBe(sent);
    } finally {
      viewer.close();
    }
  });

  it("takes maxClients viewers; one more is a 503; a viewer that leaves frees its place and its socket", async () => {
    const before = await bare.connections();
    const a = await openEvents(bare.port);
    const b = await openEvents(bare.port);
    expect([a.status, b.status]).toEqual([200, 200]);
    const c = await openEvents(bare.port);
    expect(c.status).toBe(503);
    await until(() => c.ended, "the 503's body");
    expect(JSON.parse(c.body)).toMatchObject({ error: "unavailable", message: expect.stringMatching(/2 viewers already/) });
    a.close();
    await until(() => bare.app.statusHub.clientCount === 1, "the viewer that left to be dropped");
    const d = await openEvents(bare.port);
    expect(d.status).toBe(200);
    b.close();
    d.close();
    await until(() => bare.app.statusHub.clientCount === 0, "every viewer dropped");
    await until(async () => (await bare.connections()) <= before, "their sockets closed");
  });

  it("on shutdown each stream gets a closing event and ends; no stream is taken after", async () => {
    const own = await startBareHost();
    const viewer = await openEvents(own.port);
    await until(() => own.app.statusHub.clientCount === 1, "the viewer");
    await own.app.statusHub.close();
    await until(() => viewer.ended, "the stream to end");
    expect(viewer.events.at(-1)?.event).toBe("closing");
    expect(own.app.statusHub.clientCount).toBe(0);
    const late = await fetch(`${own.url}/status/events`);
    expect(late.status).toBe(503);
    expect((await late.json()).message).toMatch(/shutting down/);
    await own.stop();
  });
});

/**
 * The host's HTTP port under hostile requests: the REST API, the webhook receiver, the Twilio
 * hang-up route, health, metrics. A real Host (built, not started: no Chrome), its real server.
 * Every request gets a clear answer or a close, in bounded time; nothing crashes or leaks; a
 * normal request is served afterwards.
 */
import fc from "fast-check";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HTTP_TIMEOUTS } from "../bridge/http-bounds.ts";
import { BARE_API_TOKEN, startBareHost, type BareHost } from "./support/bare-host.ts";
import { PROTO_KEYS, deepArrays, mutated, nastyJson, nastyString, runs } from "./support/fuzz.ts";
import { rawRequest, statusesIn, type RawEnding } from "./support/raw-http.ts";
import { until } from "./support/until.ts";

const VERIFICATION_TOKEN = "verify-0123456789abcdef";
// Short, so a slow client is cut within the run; production values are checked below.
const TIMEOUTS = { headersMs: 200, requestMs: 400, keepAliveMs: 200, checkEveryMs: 50 };

let bare: BareHost;
let processListeners: number;
beforeAll(async () => {
  processListeners = listenerCount();
  bare = await startBareHost({ ANSWER_MODE: "webhook", WEBHOOK_VERIFICATION_TOKEN: VERIFICATION_TOKEN, MAX_CONCURRENT_CALLS: "2" }, TIMEOUTS);
});
afterAll(async () => {
  await bare?.stop();
});

function listenerCount(): number {
  return ["uncaughtException", "unhandledRejection", "warning"].reduce((n, e) => n + process.listenerCount(e), 0);
}

interface Reply {
  status: number;
  text: string;
}

function send(method: string, path: string, headers: Record<string, string>, body?: string | Uint8Array): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: bare.port, method, path, headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("latin1");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, text }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.setTimeout(5000, () => req.destroy(new Error(`no answer to ${method} ${path} within 5 s`)));
    req.end(body);
  });
}

/** A normal request still works, and every connection the fuzz opened is gone. */
async function stillServing(): Promise<void> {
  const health = await send("GET", "/health", {});
  expect(health.status).toBe(200);
  expect(JSON.parse(health.text)).toEqual({ status: "ok" });
  await until(async () => (await bare.connections()) === 0, "the server to hold no connection");
  expect(listenerCount()).toBe(processListeners);
  expect(bare.host.calls.list()).toEqual([]);
  // Every slot a failed POST /calls took is back.
  const slots = [bare.host.calls.takeSlot(), bare.host.calls.takeSlot()];
  expect(slots.sort()).toEqual([0, 1]);
  for (const s of slots) bare.host.calls.returnSlot(s!);
}

// ── structured requests: any method, path, headers and body an HTTP client can send ──────────

const ROUTES = ["/health", "/ready", "/metrics", "/openapi.json", "/calls", "/calls/abc", "/calls/abc/hangup", "/calls/abc/dtmf", "/calls/abc/transfer", "/calls/abc/recording", "/webhooks/ringcentral", "/2010-04-01/Accounts/AC1/Calls/CA1.json", "/status", "/status/status.js", "/status/x"];
// encodeURIComponent throws on a lone surrogate.
const encode = (s: string) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, "\ufffd"));
const segment = fc.oneof(
  fc.constantFrom("calls", "hangup", "dtmf", "status", "webhooks", "ringcentral", "2010-04-01", "Accounts", "Calls", "x.json", ...PROTO_KEYS, "__proto__.json", "%zz", "%", "%E0%A4%A", "%00", "%2F", "..", ".", ""),
  fc.string({ maxLength: 12 }).map(encode),
);
const path = fc
  .tuple(
    fc.oneof(fc.constantFrom(...ROUTES), fc.array(segment, { minLength: 1, maxLength: 6 }).map((s) => `/${s.join("/")}`)),
    fc.option(fc.array(fc.tuple(fc.constantFrom(...PROTO_KEYS, "a", "token", "a[b]", "__proto__[x]"), nastyString), { maxLength: 3 }), { nil: undefined }),
  )
  .map(([p, q]) => (q ? `${p}?${q.map(([k, v]) => `${encode(k)}=${encode(v)}`).join("&")}` : p));

const headerValue = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 });
const headers = fc.record(
  {
    "content-type": fc.oneof(
      fc.constantFrom("application/json", "application/json; charset=utf-8", "application/json; charset=latin1", "APPLICATION/JSON", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", "application/jsonx", "*/*", "application/json;;;"),
      headerValue,
    ),
    authorization: fc.oneof(fc.constantFrom(`Bearer ${BARE_API_TOKEN}`, "Bearer wrong", `Basic ${Buffer.from(`AC1:${BARE_API_TOKEN}`).toString("base64")}`, "Basic !!!", "bearer"), headerValue),
    "verification-token": fc.constantFrom(VERIFICATION_TOKEN, "wrong"),
    "validation-token": headerValue,
    "content-encoding": fc.constantFrom("gzip", "br", "identity", "x"),
  },
  { requiredKeys: [] },
);

const placeCall = fc.record({ to: fc.constantFrom("+16505550100", "101"), from: fc.constantFrom("+16505550111"), customParameters: fc.constant({ a: "b" }), amd: fc.constant({ mode: "detect" }) });
const delivery = fc.record({
  uuid: fc.uuid(),
  event: fc.constant("/restapi/v1.0/account/1/extension/2/telephony/sessions"),
  body: fc.record({
    telephonySessionId: fc.constantFrom("s-1", "s-2"),
    sequence: fc.integer(),
    parties: fc.constant([{ id: "p-1", direction: "Inbound", from: { phoneNumber: "+16505550100" }, status: { code: "Setup" } }]),
  }),
});
const body = fc.oneof(
  fc.constant(undefined),
  nastyJson.map((v) => JSON.stringify(v) ?? "null"),
  mutated(placeCall).map((v) => JSON.stringify(v)),
  mutated(delivery).map((v) => JSON.stringify(v)),
  delivery.map((v) => JSON.stringify(v)),
  // Prototype-shaped keys as JSON text (an object literal cannot hold an own __proto__).
  fc.constantFrom(...PROTO_KEYS).map((k) => `{"to":"+16505550100","customParameters":{"${k}":{"polluted":"1"}}}`),
  fc.constantFrom(...PROTO_KEYS).map((k) => `{"${k}":{"admin":true},"digits":"1"}`),
  fc.integer({ min: 1, max: 20_000 }).map(deepArrays),
  fc.integer({ min: 17, max: 200 }).map((n) => `{"to":${'{"a":'.repeat(n)}1${"}".repeat(n)}}`),
  fc.constantFrom("Status=completed", "Status=canceled&__proto__=x", "Status[]=completed", "%zz=%zz"),
  fc.uint8Array({ maxLength: 2000 }),
  fc.constantFrom(40_000, 300_000).map((n) => `{"to":"${"1".repeat(n)}"}`),
);
const METHODS = fc.constantFrom("GET", "HEAD", "POST", "POST", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "PURGE", "SEARCH");

/** What an answer may be: 2xx/4xx, a JSON error body on our routes; 5xx only where it is the truth. */
function expectClear(method: string, p: string, reply: Reply): void {
  const route = p.split("?")[0];
  // The page is down (never started): placing a call is a retryable 503 that says so; /ready is 503 too.
  if (reply.status === 503) {
    if (route !== "/ready") expect({ method, route, message: JSON.parse(reply.text).message }).toEqual({ method: "POST", route: "/calls", message: expect.stringMatching(/^the phone is not ready/) });
  } else expect(reply.status, `${method} ${p}: ${reply.text.slice(0, 200)}`).toBeLessThan(500);
  if (reply.status < 400 || method === "HEAD" || route === "/ready") return;
  // The Twilio route answers as Twilio does ({code, message, status}) once past the HTTP checks.
  const twilio = route.startsWith("/2010-04-01/") && /"code":/.test(reply.text);
  expect(JSON.parse(reply.text)).toMatchObject(twilio ? { code: expect.any(Number), message: expect.any(String) } : { error: expect.any(String), message: expect.any(String) });
}

describe("the HTTP port under hostile requests", () => {
  it("answers any method, path, header and body with a clear status and a JSON error", async () => {
    await fc.assert(
      fc.asyncProperty(METHODS, path, headers, body, async (method, p, h, b) => {
        expectClear(method, p, await send(method, p, h, method === "GET" || method === "HEAD" ? undefined : b));
      }),
      runs(300),
    );
    await stillServing();
  });

  it("webhooks: a delivery with one field of the wrong shape is a 400 naming it; a good one is taken once", async () => {
    const post = (b: unknown) => send("POST", "/webhooks/ringcentral", { "content-type": "application/json", "verification-token": VERIFICATION_TOKEN }, JSON.stringify(b));
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated(delivery), delivery), async (d) => {
        const before = bare.host.webhooks.received;
        const reply = await post(d);
        expect([200, 400]).toContain(reply.status);
        expect(bare.host.webhooks.received).toBe(before + (reply.status === 200 ? 1 : 0));
        if (reply.status === 400) expect(JSON.parse(reply.text).message).toMatch(/\S: \S/);
      }),
      runs(150),
    );
    await stillServing();
  });

  it("API: a body with one field of the wrong shape is a 400 naming the field", async () => {
    const json = { authorization: `Bearer ${BARE_API_TOKEN}`, "content-type": "application/json" };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("/calls", "/calls/abc/dtmf", "/calls/abc/transfer", "/calls/abc/recording"), mutated(placeCall), async (p, b) => {
        const reply = await send("POST", p, json, JSON.stringify(b));
        expectClear("POST", p, reply);
        if (reply.status === 400) expect(JSON.parse(reply.text).message).toMatch(/\S: \S/);
      }),
      runs(150),
    );
    await stillServing();
  });

  // Each row is an input that crashed, hung or misanswered before; the status it gets now.
  const auth = { authorization: `Bearer ${BARE_API_TOKEN}` };
  const json = { ...auth, "content-type": "application/json" };
  it.each<[string, string, string, Record<string, string>, string | undefined, number, RegExp]>([
    ["a customParameters key __proto__ (zod dropped it silently)", "POST", "/calls", json, '{"to":"+16505550100","customParameters":{"__proto__":{"x":"1"}}}', 400, /customParameters\.__proto__: "__proto__" is not allowed/],
    ["a key constructor", "POST", "/calls", json, '{"to":"+16505550100","customParameters":{"constructor":"y"}}', 400, /constructor/],
    ["nesting deeper than 16", "POST", "/calls", json, `{"to":${'{"a":'.repeat(40)}1${"}".repeat(40)}}`, 400, /nested deeper than 16/],
    ["text/plain on a JSON route (was 400 'to: expected string')", "POST", "/calls", { ...auth, "content-type": "text/plain" }, "hi", 415, /Content-Type must be application\/json/],
    ["a charset other than utf-8", "POST", "/calls", { ...auth, "content-type": "application/json; charset=utf-7" }, "{}", 415, /charset/],
    ["a compressed body", "POST", "/calls", { ...json, "content-encoding": "gzip" }, "{}", 415, /encoding/],
    ["a body over 32 KB", "POST", "/calls", json, `{"to":"${"1".repeat(40_000)}"}`, 413, /too large/],
    ["a webhook as text/plain", "POST", "/webhooks/ringcentral", { "content-type": "text/plain", "verification-token": VERIFICATION_TOKEN }, "{}", 415, /application\/json/],
    ["a Twilio hang-up as JSON", "POST", "/2010-04-01/Accounts/AC1/Calls/CA1.json", { "content-type": "application/json" }, "{}", 415, /x-www-form-urlencoded/],
    ["a malformed %-escape outside any route param", "GET", "/%E0%A4%A", {}, undefined, 400, /%-escape/],
    ["TRACE", "TRACE", "/calls", auth, undefined, 405, /TRACE is not answered/],
  ])("%s: %s %s", async (_what, method, p, h, b, status, message) => {
    const reply = await send(method, p, h, b);
    expect(reply.status).toBe(status);
    expect(JSON.parse(reply.text).message).toMatch(message);
  });

  // ── raw bytes: what no HTTP client sends ───────────────────────────────────────────────────

  // Mostly well-formed, so the server gets past its parser often; sometimes anything at all.
  const rawMethod = fc.oneof({ weight: 3, arbitrary: fc.constantFrom("GET", "POST", "HEAD") }, fc.constantFrom("CONNECT", "OPTIONS", "FOO", "get", "G\u0000T", "", "GET GET", "PRI"));
  const rawTarget = fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom("/health", "/calls", "/webhooks/ringcentral", "/2010-04-01/Accounts/AC1/Calls/CA1.json") },
    fc.constantFrom("/", "//", "///health", "http://[", "http://127.0.0.1/health", "http://x/calls/%zz", "*", "/%", "/calls/%zz", "\u0000", "/a b", `/${"a".repeat(9000)}`, "/webhooks/ringcentral", "/?__proto__[x]=1", "127.0.0.1:80"),
    fc.string({ unit: "binary", maxLength: 30 }),
  );
  const rawVersion = fc.oneof({ weight: 4, arbitrary: fc.constant("HTTP/1.1") }, fc.constantFrom("HTTP/1.0", "HTTP/2.0", "HTTP/9.9", "HTTP/1.1x", ""));
  const rawHeader = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(
      "Host: x",
      "Content-Length: 5",
      "Content-Length: 5\r\nContent-Length: 6",
      "Content-Length: -1",
      "Content-Length: abc",
      `Content-Length: ${"9".repeat(30)}`,
      "Transfer-Encoding: chunked",
      "Transfer-Encoding: chunked, identity",
      "Transfer-Encoding: x",
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13",
      "Connection: close",
      "Expect: 100-continue",
      "Content-Type: application/json",
      " folded-continuation",
      "X-Nul: a\u0000b",
      `X-Big: ${"b".repeat(20_000)}`,
      "Authorization: Bearer wrong",
    ) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  );
  const rawRequestBytes = fc
    .record({
      method: rawMethod,
      target: rawTarget,
      version: rawVersion,
      headers: fc.array(rawHeader, { maxLength: 5 }),
      eol: fc.constantFrom("\r\n", "\r\n", "\n"),
      body: fc.oneof(fc.constant(""), fc.string({ unit: "binary", maxLength: 200 }), fc.constant("5\r\nhello\r\n0\r\n\r\n"), fc.constant("zz\r\n")),
      complete: fc.constantFrom(true, true, false),
    })
    .map((r) => {
      const head = [`${r.method} ${r.target} ${r.version}`, "Host: x", ...r.headers].join(r.eol);
      return { bytes: Buffer.from(r.complete ? `${head}${r.eol}${r.eol}${r.body}` : head, "latin1"), complete: r.complete };
    });
  // A client that stops mid-request and waits (slow-loris); complete ones end or reset (keep-alive is checked below).
  const rawCase = fc.tuple(rawRequestBytes, fc.constantFrom<RawEnding>("end", "reset", "wait")).map(([r, end]): [Buffer, RawEnding] => [r.bytes, end === "wait" && r.complete ? "end" : end]);

  it("answers malformed request lines, targets and headers, resets and stalls: a status or a close, in bounded time", async () => {
    // The longest a client may hold a socket here: headers, then the body, then keep-alive, plus the checks.
    const boundMs = TIMEOUTS.requestMs + 4 * TIMEOUTS.checkEveryMs + 500;
    await fc.assert(
      fc.asyncProperty(fc.array(rawCase, { minLength: 1, maxLength: 8 }), async (batch) => {
        const t0 = Date.now();
        const replies = await Promise.all(batch.map(([bytes, end]) => rawRequest(bare.port, bytes, end, boundMs)));
        if (process.env.FUZZ_DEBUG) console.log(Date.now() - t0, batch.map(([b, e]) => e + ":" + JSON.stringify(b.toString("latin1").slice(0, 50))), replies.map((r) => r.status));
        replies.forEach((reply, i) => {
          const [bytes, end] = batch[i];
          const what = JSON.stringify(bytes.toString("latin1").slice(0, 120));
          if (end !== "reset") expect(reply.closed, `still open after ${boundMs} ms: ${what}`).toBe(true);
          for (const status of statusesIn(reply.text)) {
            // 505: Node's own answer to an HTTP version it does not speak.
            if (status >= 500) expect([503, 505], `${status} for ${what}`).toContain(status);
          }
        });
      }),
      runs(40),
    );
    await stillServing();
  });

  it("closes an idle keep-alive connection (Node adds 1 s to keepAliveTimeout)", async () => {
    const reply = await rawRequest(bare.port, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", "wait", TIMEOUTS.keepAliveMs + 1000 + 1000);
    expect(reply).toMatchObject({ status: 200, closed: true });
  });

  it("cuts slow clients with the production bounds", async () => {
    const { server } = await startBareHost().then(async (h) => {
      await h.stop();
      return h;
    });
    expect({ headers: server.headersTimeout, request: server.requestTimeout, keepAlive: server.keepAliveTimeout }).toEqual({
      headers: HTTP_TIMEOUTS.headersMs,
      request: HTTP_TIMEOUTS.requestMs,
      keepAlive: HTTP_TIMEOUTS.keepAliveMs,
    });
    // A client that sends part of its headers and then waits is answered 408 and closed.
    const slow = await rawRequest(bare.port, "GET /health HTTP/1.1\r\nHost: x\r\n", "wait", 5000);
    expect(slow).toMatchObject({ status: 408, closed: true });
  });
});

describe("METRICS_REQUIRE_TOKEN", () => {
  it("puts /metrics and /openapi.json behind the bearer token; /health stays open", async () => {
    const guarded = await startBareHost({ METRICS_REQUIRE_TOKEN: "true" });
    try {
      for (const p of ["/metrics", "/openapi.json"]) {
        expect((await fetch(`${guarded.url}${p}`)).status).toBe(401);
        expect((await fetch(`${guarded.url}${p}`, { headers: { authorization: "Bearer wrong-wrong-wrong-wrong" } })).status).toBe(403);
        expect((await fetch(`${guarded.url}${p}`, { headers: { authorization: `Bearer ${BARE_API_TOKEN}` } })).status).toBe(200);
      }
      expect(await (await fetch(`${guarded.url}/metrics`, { headers: { authorization: `Bearer ${BARE_API_TOKEN}` } })).text()).toMatch(/^rcvh_sip_registered 0$/m);
      expect((await fetch(`${guarded.url}/health`)).status).toBe(200);
    } finally {
      await guarded.stop();
    }
    // The default: open, as before.
    expect((await fetch(`${bare.url}/metrics`)).status).toBe(200);
  });
});

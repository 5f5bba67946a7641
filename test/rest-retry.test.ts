import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { SDK } from "@ringcentral/sdk";
import { Counter, Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../host/log.ts";
import { RETRY_CAP_MS, retryWaitMs } from "../host/backoff.ts";
import { RestRetry, classifyRestError, parseRetryAfter } from "../host/rest-retry.ts";

/** A logger whose JSON lines land in `lines`. */
function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: createLogger("info", { destination }), lines };
}

function counter() {
  const registry = new Registry();
  const c = new Counter({ name: "t_rest_retries_total", help: "t", labelNames: ["operation", "reason"], registers: [registry] });
  const value = async (labels: { operation: string; reason: string }) => (await c.get()).values.find((v) => v.labels.operation === labels.operation && v.labels.reason === labels.reason)?.value ?? 0;
  return { c, value };
}

describe("Retry-After", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  it("reads delay-seconds", () => {
    expect(parseRetryAfter("1", now)).toBe(1000);
    expect(parseRetryAfter("0", now)).toBe(0);
    expect(parseRetryAfter(" 7 ", now)).toBe(7000);
    expect(parseRetryAfter("2.5", now)).toBe(2500);
  });
  it("reads an HTTP-date, and a date already past as no wait", () => {
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 23:59:00 GMT", now)).toBe(0);
  });
  it("ignores what is neither", () => {
    for (const v of [undefined, null, "", "soon", "-5", "1e3", "0x10"]) expect(parseRetryAfter(v, now)).toBeUndefined();
  });
});

describe("the wait before each retry", () => {
  const at = (random: number) => ({ baseMs: 500, capMs: RETRY_CAP_MS, random: () => random });

  it("is full jitter: anywhere from 0 up to base·2^(n-1)", () => {
    expect(retryWaitMs(1, undefined, at(0))).toBe(0);
    expect(retryWaitMs(1, undefined, at(0.999999))).toBe(499);
    expect(retryWaitMs(3, undefined, at(0.999999))).toBe(1999);
    expect(retryWaitMs(3, undefined, at(0.5))).toBe(1000);
  });

  it("spreads over the whole range, never beyond it", () => {
    const waits = Array.from({ length: 2000 }, () => retryWaitMs(3, undefined, { baseMs: 500, capMs: RETRY_CAP_MS, random: Math.random }));
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...waits)).toBeLessThan(2000);
    // Full jitter, not "half" or "equal" jitter: the low quarter is used as much as the others.
    expect(waits.filter((w) => w < 500).length).toBeGreaterThan(350);
    expect(waits.filter((w) => w >= 1500).length).toBeGreaterThan(350);
  });

  it("is capped, however many retries", () => {
    expect(retryWaitMs(7, undefined, at(0.999999))).toBe(RETRY_CAP_MS - 1);
    expect(retryWaitMs(200, undefined, at(0.999999))).toBe(RETRY_CAP_MS - 1);
  });

  it("waits at least what Retry-After asks, up to the cap", () => {
    expect(retryWaitMs(1, 1000, at(0))).toBe(1000);
    expect(retryWaitMs(1, 1000, at(0.999999))).toBe(1000);
    expect(retryWaitMs(8, 1000, at(0.5))).toBe(15_000); // the backoff is longer than the ask
    expect(retryWaitMs(1, 3_600_000, at(0))).toBe(RETRY_CAP_MS);
  });
});

describe("which failures are retried (errors as the real SDK makes them)", () => {
  let server: Server;
  let url: string;
  let closedUrl: string;
  const sdk = () => new SDK({ server: url, clientId: "c", clientSecret: "s", cachePrefix: `rest-retry-${Math.random()}-` }).platform();
  const failure = (status: number, headers: Record<string, string> = {}) => sdk().send({ method: "GET", url: `/status/${status}?${new URLSearchParams(headers)}`, skipAuthCheck: true }).catch((e: unknown) => e);

  beforeAll(async () => {
    server = createServer((req, res) => {
      const u = new URL(req.url!, "http://x");
      if (u.pathname === "/hang") return; // never answers
      const status = Number(u.pathname.split("/")[2]);
      res.writeHead(status, { "content-type": "application/json", ...Object.fromEntries(u.searchParams) });
      res.end(JSON.stringify({ errorCode: "X", message: `status ${status}` }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((r) => closed.close(r));
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it("429 and 5xx, with their Retry-After", async () => {
    for (const status of [429, 500, 502, 503, 504]) {
      const v = classifyRestError(await failure(status, { "retry-after": "3" }));
      expect(v).toEqual({ retry: true, reason: status === 429 ? "rate-limited" : "server-error", status, retryAfterMs: 3000 });
    }
    expect(classifyRestError(await failure(503))).toMatchObject({ retry: true, retryAfterMs: undefined });
  });

  it("not 4xx: bad credentials, missing permission, wrong server, conflicts", async () => {
    for (const status of [400, 401, 403, 404, 409, 422]) expect(classifyRestError(await failure(status))).toEqual({ retry: false, status });
  });

  it("a refused connection and a request timeout", async () => {
    const refused = await new SDK({ server: closedUrl, clientId: "c", clientSecret: "s", cachePrefix: "rr-closed-" }).platform().send({ method: "GET", url: "/x", skipAuthCheck: true }).catch((e: unknown) => e);
    expect(classifyRestError(refused)).toEqual({ retry: true, reason: "network" });
    const timedOut = await new SDK({ server: url, clientId: "c", clientSecret: "s", cachePrefix: "rr-hang-", defaultRequestInit: { timeout: 200 } as object })
      .platform()
      .send({ method: "GET", url: "/hang", skipAuthCheck: true })
      .catch((e: unknown) => e);
    expect(classifyRestError(timedOut)).toEqual({ retry: true, reason: "timeout" });
  });

  it("undici's fetch failed, and not the SDK's own checks or bugs", () => {
    expect(classifyRestError(new TypeError("fetch failed", { cause: { code: "ECONNRESET" } }))).toEqual({ retry: true, reason: "network" });
    expect(classifyRestError(new Error("Refresh token is missing"))).toEqual({ retry: false });
    expect(classifyRestError(new TypeError("Cannot read properties of undefined (reading 'id')"))).toEqual({ retry: false });
  });
});

describe("RestRetry.run", () => {
  const fail = (status: number, retryAfter?: string) =>
    Object.assign(new Error(`status ${status}`), { response: new Response(null, { status, headers: retryAfter ? { "retry-after": retryAfter } : {} }) });

  it("retries until it works, logging each retry with its wait and counting it by reason", async () => {
    const { log, lines } = capture();
    const { c, value } = counter();
    let calls = 0;
    const retry = new RestRetry(log, c, { baseMs: 10 });
    const got = await retry.run("sip-provision", async () => {
      calls++;
      if (calls === 1) throw fail(500);
      if (calls === 2) throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
      return "ok";
    });
    expect(got).toBe("ok");
    expect(calls).toBe(3);
    expect(await value({ operation: "sip-provision", reason: "server-error" })).toBe(1);
    expect(await value({ operation: "sip-provision", reason: "network" })).toBe(1);
    const retries = lines.filter((l) => l.operation === "sip-provision");
    expect(retries.map((l) => [l.level, l.attempt, l.reason])).toEqual([
      ["warn", 1, "server-error"],
      ["warn", 2, "network"],
    ]);
    for (const l of retries) expect(typeof l.waitMs).toBe("number");
    expect(String(retries[0].msg)).toMatch(/sip-provision failed \(500: status 500\), retrying in \d+ ms/);
  });

  it("waits what Retry-After asks", async () => {
    const { log } = capture();
    const at: number[] = [];
    await new RestRetry(log, undefined, { baseMs: 1 }).run("login", async () => {
      at.push(performance.now());
      if (at.length === 1) throw fail(503, "0.3");
    });
    expect(at[1] - at[0]).toBeGreaterThanOrEqual(295);
  });

  it("throws a definitive failure at once, as it came, naming the operation", async () => {
    const { log, lines } = capture();
    let calls = 0;
    const err = await new RestRetry(log).run("login", async () => {
      calls++;
      throw fail(401);
    }).catch((e: unknown) => e);
    expect(calls).toBe(1);
    expect(err).toMatchObject({ message: "status 401", operation: "login", response: { status: 401 } });
    expect(lines).toEqual([]);
  });

  it("stops after `attempts`", async () => {
    const { log } = capture();
    let calls = 0;
    const err = await new RestRetry(log, undefined, { baseMs: 1 }).run("extension", async () => {
      calls++;
      throw fail(502);
    }, { attempts: 3 }).catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect((err as { response: Response }).response.status).toBe(502);
  });

  it("a signal ends the retries: during a wait with RingCentral's last answer, during a hung call with the signal's reason", async () => {
    const { log } = capture();
    const retry = new RestRetry(log, undefined, { baseMs: 1 });
    const t0 = performance.now();
    const waited = await retry.run("call-control-answer", async () => {
      throw fail(503, "20");
    }, { signal: AbortSignal.timeout(300) }).catch((e: unknown) => e);
    expect((waited as { response: Response }).response.status).toBe(503);
    expect(performance.now() - t0).toBeLessThan(5000); // not the 20 s asked for
    const hung = await retry.run("call-control-answer", (signal) => new Promise((_r, reject) => signal.addEventListener("abort", () => reject(new Error("aborted request")))), {
      signal: AbortSignal.timeout(200),
    }).catch((e: unknown) => e);
    expect((hung as Error).name).toBe("TimeoutError");
    expect(classifyRestError(hung)).toEqual({ retry: true, reason: "timeout" });
  });

  it("logs a retry at error when asked", async () => {
    const { log, lines } = capture();
    let calls = 0;
    await new RestRetry(log, undefined, { baseMs: 1 }).run("subscription-renew", async () => {
      if (++calls === 1) throw fail(503);
    }, { level: "error" });
    expect(lines.map((l) => l.level)).toEqual(["error"]);
  });
});

/**
 * The host's REST side (host/ringcentral.ts) under the retry policy, against the twin's REST
 * faults, with the real SDK and no Chrome: login, the token refresh, sip-provision, timeouts,
 * and what is not retried.
 */
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../host/log.ts";
import { Metrics } from "../host/metrics.ts";
import { RingCentral, describeRcError, type RingCentralOptions } from "../host/ringcentral.ts";
import { until, useFaultHarness } from "./support/fault-harness.ts";

const { harness, control } = useFaultHarness();
const made: RingCentral[] = [];
afterEach(async () => {
  await Promise.all(made.splice(0).map((rc) => rc.logout()));
});

function makeRc(opts: RingCentralOptions & { jwt?: string } = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _e, cb) {
      for (const l of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  const metrics = new Metrics();
  const t = harness().twin;
  const rc = new RingCentral(
    { serverUrl: t.restUrl, clientId: t.clientId, clientSecret: t.clientSecret, jwt: opts.jwt ?? t.jwt },
    `/tmp/rc-retry-test-${process.pid}-${Math.random()}.json`,
    createLogger("info", { destination }),
    { retries: metrics.restRetries, backoff: { baseMs: 20 }, ...opts },
  );
  made.push(rc);
  const retries = async (operation: string, reason: string) =>
    (await metrics.restRetries.get()).values.find((v) => v.labels.operation === operation && v.labels.reason === reason)?.value ?? 0;
  return { rc, lines, retries, metrics };
}

const fault = (body: Record<string, unknown>) => control("/faults/rest", { method: "POST", body });
const used = async () => (await control<{ rest: Array<{ path: string; used: number }> }>("/faults")).body.rest.map((r) => r.used);

describe("RingCentral REST under the retry policy (twin)", () => {
  it("login waits out 503 + Retry-After; sip-provision rides out three 500s", async () => {
    await fault({ method: "POST", path: "/restapi/oauth/token", status: 503, retryAfterS: 1, count: 2 });
    await fault({ method: "POST", path: "/restapi/v1.0/client-info/sip-provision", status: 500, count: 3 });
    const { rc, lines, retries } = makeRc();
    const t0 = performance.now();
    const ext = await rc.login();
    const loginMs = performance.now() - t0;
    expect(ext.extensionNumber).toBe("101");
    expect(loginMs).toBeGreaterThanOrEqual(1990); // two waits of Retry-After: 1
    const provisioned = await rc.provision();
    expect(provisioned.cached).toBe(false);
    expect(provisioned.sipInfo.username).toBe(harness().twin.account.sip.username);
    expect(await used()).toEqual([2, 3]);
    expect(await retries("login", "server-error")).toBe(2);
    expect(await retries("sip-provision", "server-error")).toBe(3);
    const logged = lines.filter((l) => l.operation === "login");
    expect(logged.map((l) => [l.status, l.retryAfterMs, l.waitMs])).toEqual([
      [503, 1000, 1000],
      [503, 1000, 1000],
    ]);
  });

  it("a token refresh that meets 503 is retried, once for every caller waiting on it", async () => {
    const { rc, retries } = makeRc();
    await rc.login();
    const before = (await rc.platform.auth().data()).access_token;
    await rc.platform.auth().cancelAccessToken();
    await fault({ method: "POST", path: "/restapi/oauth/token", status: 503, count: 1 });
    const [a, b] = await Promise.all([
      rc.request("extension", "GET", "/restapi/v1.0/account/~/extension/~"),
      rc.request("extension", "GET", "/restapi/v1.0/account/~/extension/~/phone-number"),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(await retries("refresh", "server-error")).toBe(1);
    expect(await used()).toEqual([1]);
    const after = await rc.platform.auth().data();
    expect(after.access_token).not.toBe(before);
    expect(after.refresh_token).toBeTruthy();
  });

  it("a refresh RingCentral refuses (tokens revoked) becomes a JWT login, and the call goes through", async () => {
    const { rc, lines } = makeRc();
    await rc.login();
    const t = harness().twin;
    const { refresh_token } = await rc.platform.auth().data();
    const revoked = await fetch(`${t.restUrl}/restapi/oauth/revoke`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${t.clientId}:${t.clientSecret}`).toString("base64")}`, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: refresh_token! }),
    });
    expect(revoked.status).toBe(200);
    // The access token went with the pair: RingCentral answers 401, the SDK drops it and asks ensureLoggedIn for a new one.
    const res = await rc.request("extension", "GET", "/restapi/v1.0/account/~/extension/~");
    expect(res.status).toBe(200);
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(["ringcentral: token refresh refused, logging in again with the JWT", "ringcentral: logged in again with the JWT"]));
  });

  it("a request that hangs times out and is retried", async () => {
    await fault({ method: "POST", path: "/restapi/v1.0/client-info/sip-provision", delayMs: 3000, count: 1 });
    const { rc, retries } = makeRc({ requestTimeoutMs: 400 });
    await rc.login();
    const t0 = performance.now();
    await rc.provision({ fresh: true });
    expect(performance.now() - t0).toBeLessThan(2900); // the timed-out attempt was not waited for
    expect(await retries("sip-provision", "timeout")).toBe(1);
  });

  it("bad credentials are not retried, and say what to fix", async () => {
    const { rc, lines, retries } = makeRc({ jwt: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bm90LXRoZS1qd3Q" });
    const err = await rc.login().catch((e: unknown) => e);
    expect(describeRcError(err, "https://x")).toMatch(/^RingCentral refused the login \(400: .*\): check RINGCENTRAL_CLIENT_ID, RINGCENTRAL_CLIENT_SECRET and RINGCENTRAL_JWT_TOKEN$/);
    expect(await retries("login", "server-error")).toBe(0);
    expect(lines.filter((l) => l.level !== "info")).toEqual([]);
  });

  it("logout ends a retry under way at once", async () => {
    const { rc, lines } = makeRc();
    await rc.login();
    await fault({ method: "GET", path: "/restapi/v1.0/account/*/extension/*", status: 503, retryAfterS: 30, forMs: 60_000 });
    const pending = rc.request("extension", "GET", "/restapi/v1.0/account/~/extension/~").catch((e: unknown) => e);
    await until(() => lines.some((l) => l.operation === "extension" && l.retryAfterMs === 30_000), "the first 503 and its 30 s wait");
    const t0 = performance.now();
    await rc.logout();
    const err = await pending;
    expect(performance.now() - t0).toBeLessThan(2000);
    expect((err as { response?: { status: number } }).response?.status).toBe(503);
  });
});

describe("describeRcError names what to fix", () => {
  const err = (status: number, operation: string, message = "nope") => Object.assign(new Error(message), { response: { status }, operation });
  it("a missing permission, by operation", () => {
    expect(describeRcError(err(403, "sip-provision"), "u")).toMatch(/give the app the "VoIP Calling" permission/);
    expect(describeRcError(err(403, "subscription-create"), "u")).toMatch(/"WebHook Subscriptions"/);
    expect(describeRcError(err(403, "extension"), "u")).toMatch(/"Read Accounts"/);
  });
  it("a wrong server, and a webhook address RingCentral cannot reach", () => {
    expect(describeRcError(err(404, "login"), "u")).toMatch(/check RINGCENTRAL_SERVER_URL/);
    expect(describeRcError(err(400, "subscription-create", "WebHook server is not reachable"), "u")).toMatch(/check WEBHOOK_PUBLIC_URL/);
  });
});

/**
 * The twin's fault controls (docs/twin.md, "Faults") for SIP transport and REST, against the
 * twin alone: raw SIP-over-WSS clients and the real SDK. Each fault is checked on the wire:
 * sockets really close, upgrades are really refused, REGISTERs and REST requests get the
 * chosen answers. Calls across faults are in twin-faults-calls.test.ts.
 */
import { SDK } from "@ringcentral/sdk";
import { describe, expect, it } from "vitest";
import { header } from "../twin/sip/message.ts";
import { until, useFaultHarness } from "./support/fault-harness.ts";

const { harness, control, client, sipInfo, registrations, tryUpgrade } = useFaultHarness();

describe("SIP transport faults", () => {
  it("drops a registration's socket cleanly with the chosen code; the registration goes at once; a new socket re-registers", async () => {
    const a = await client();
    expect((await a.register(sipInfo(), { instanceId: "inst-a" })).startLine).toBe("SIP/2.0 200 OK");
    const [before] = await registrations();
    expect(before).toMatchObject({ instanceId: "inst-a", extensionNumber: "101" });
    const dropped = await control("/faults/sip/drop", { method: "POST", body: { extension: "101", code: 4001, reason: "twin drop" } });
    expect(dropped.status).toBe(200);
    expect(dropped.body).toMatchObject({ mode: "close", code: 4001, dropped: [{ id: before.connectionId, instanceIds: ["inst-a"] }] });
    expect(await registrations()).toEqual([]);
    expect(await a.closed).toEqual({ code: 4001, reason: "twin drop" });

    const b = await client();
    expect((await b.register(sipInfo(), { instanceId: "inst-a" })).startLine).toBe("SIP/2.0 200 OK");
    const [after] = await registrations();
    expect(after.instanceId).toBe("inst-a");
    expect(after.connectionId).not.toBe(before.connectionId);
    const conns = (await control("/sip/connections")).body.records;
    expect(conns).toEqual([expect.objectContaining({ id: after.connectionId, instanceIds: ["inst-a"], remote: expect.stringMatching(/^127\.0\.0\.1:\d+$/) })]);
  });

  it("terminates sockets abruptly (1006), by instance or all of them, registered or not", async () => {
    const a = await client();
    const b = await client();
    const idle = await client();
    await a.register(sipInfo(), { instanceId: "inst-a" });
    await b.register(sipInfo(), { instanceId: "inst-b" });
    const one = await control("/faults/sip/drop", { method: "POST", body: { instanceId: "inst-b", mode: "terminate" } });
    expect(one.body).toMatchObject({ mode: "terminate", code: 1006, dropped: [{ instanceIds: ["inst-b"] }] });
    expect((await b.closed).code).toBe(1006);
    expect((await registrations()).map((r) => r.instanceId)).toEqual(["inst-a"]);
    const all = await control("/faults/sip/drop", { method: "POST", body: { all: true, mode: "terminate" } });
    expect(all.body.dropped).toHaveLength(2);
    expect((await a.closed).code).toBe(1006);
    expect((await idle.closed).code).toBe(1006);
    expect(await registrations()).toEqual([]);
    expect((await control("/faults/sip/drop", { method: "POST", body: { connectionId: 9999 } })).status).toBe(404);
    expect((await control("/faults/sip/drop", { method: "POST", body: { extension: "999" } })).status).toBe(404);
    expect((await control("/faults/sip/drop", { method: "POST", body: { all: true, extension: "101" } })).status).toBe(400);
  });

  it("refuses new sockets with 503 and Retry-After while the window lasts; open sockets keep working; accepted after", async () => {
    const open = await client();
    const armedAtMs = Date.now();
    expect((await control("/faults/sip/refuse-connections", { method: "POST", body: { forMs: 500, retryAfterS: 2 } })).status).toBe(201);
    expect(await tryUpgrade()).toEqual({ open: false, status: 503, retryAfter: "2" });
    expect((await open.register(sipInfo(), { instanceId: "inst-open" })).startLine).toBe("SIP/2.0 200 OK");
    const accepted = await until(async () => {
      const r = await tryUpgrade();
      return r.open ? r : undefined;
    }, "an accepted upgrade");
    expect(Date.now() - armedAtMs).toBeGreaterThanOrEqual(500);
    accepted.ws.close();
    const state = (await control("/faults")).body.sip.refuseConnections;
    expect(state).toMatchObject({ mode: "503", live: false });
    expect(state.used).toBeGreaterThanOrEqual(1);
  });

  it("refuses by accept-then-close (1013) or by a reset socket, for a count", async () => {
    await control("/faults/sip/refuse-connections", { method: "POST", body: { mode: "close", count: 1 } });
    const closed = await client();
    expect(await closed.closed).toEqual({ code: 1013, reason: "Try Again Later" });
    const r = await tryUpgrade();
    expect(r.open).toBe(true);
    if (r.open) r.ws.close();
    await control("/faults/sip/refuse-connections", { method: "POST", body: { mode: "reset", count: 1 } });
    expect(await tryUpgrade()).toMatchObject({ open: false, error: expect.stringMatching(/ECONNRESET|socket hang up/) });
    expect((await tryUpgrade()).open).toBe(true);
  });

  it("rejects the next N REGISTERs with the chosen code, then registers", async () => {
    const c = await client();
    await control("/faults/sip/reject-register", { method: "POST", body: { status: 503, retryAfterS: 5, count: 2 } });
    for (let i = 0; i < 2; i++) {
      const res = await c.register(sipInfo(), { instanceId: "inst-r" });
      expect(res.startLine).toBe("SIP/2.0 503 Service Unavailable");
      expect(header(res, "Retry-After")).toBe("5");
    }
    expect((await c.register(sipInfo(), { instanceId: "inst-r" })).startLine).toBe("SIP/2.0 200 OK");
    expect((await control("/faults")).body.sip.rejectRegister).toMatchObject({ status: 503, remaining: 0, used: 2, live: false });

    // onlyAuthorized: the challenge still goes out, the authorized REGISTER gets the code.
    await control("/faults/sip/reject-register", { method: "POST", body: { status: 603, onlyAuthorized: true } });
    expect((await c.register(sipInfo(), { instanceId: "inst-r" })).startLine).toBe("SIP/2.0 603 Decline");
    expect((await c.register(sipInfo(), { instanceId: "inst-r" })).startLine).toBe("SIP/2.0 200 OK");

    // For a time: 403 until the window ends.
    await control("/faults/sip/reject-register", { method: "POST", body: { status: 403, forMs: 300 } });
    expect((await c.register(sipInfo(), { instanceId: "inst-r" })).startLine).toBe("SIP/2.0 403 Forbidden");
    await until(async () => (await c.register(sipInfo(), { instanceId: "inst-r" })).startLine === "SIP/2.0 200 OK", "a 200 after the window");
  });

  it("swallows REGISTERs for a while (no answer at all), then answers again", async () => {
    const c = await client();
    await control("/faults/sip/ignore-register", { method: "POST", body: { forMs: 400 } });
    await expect(c.registerOnce(sipInfo(), "inst-i", [], 60, 200)).rejects.toThrow(/no SIP message/);
    await until(async () => (await control("/faults")).body.sip.ignoreRegister.live === false, "the window to end");
    expect((await control("/faults")).body.sip.ignoreRegister.used).toBe(1);
    expect((await c.register(sipInfo(), { instanceId: "inst-i" })).startLine).toBe("SIP/2.0 200 OK");
  });
});

describe("REST faults", () => {
  const sdk = () => new SDK({ server: harness().twin.restUrl, clientId: harness().twin.clientId, clientSecret: harness().twin.clientSecret });
  const failure = async (p: Promise<unknown>) => {
    const err = (await p.then(() => undefined, (e: { response?: Response }) => e)) as { response?: Response } | undefined;
    if (!err?.response) throw new Error("expected an ApiError with a response");
    return { status: err.response.status, retryAfter: err.response.headers.get("retry-after"), body: (await err.response.json()) as Record<string, any> };
  };

  it("answers a route with 503 and Retry-After for the next N requests, then serves it", async () => {
    const platform = sdk().platform();
    await platform.login({ jwt: harness().twin.jwt });
    const armed = await control("/faults/rest", { method: "POST", body: { method: "POST", path: "/restapi/v1.0/client-info/sip-provision", status: 503, retryAfterS: 7, count: 2 } });
    expect(armed.status).toBe(201);
    for (let i = 0; i < 2; i++) {
      const f = await failure(platform.post("/restapi/v1.0/client-info/sip-provision", { sipInfo: [{ transport: "WSS" }] }));
      expect(f).toMatchObject({ status: 503, retryAfter: "7", body: { errorCode: "CMN-201", errors: [{ errorCode: "CMN-201" }] } });
    }
    const ok = await platform.post("/restapi/v1.0/client-info/sip-provision", { sipInfo: [{ transport: "WSS" }] });
    expect(ok.status).toBe(200);
    expect((await control("/faults")).body.rest).toEqual([expect.objectContaining({ id: armed.body.id, used: 2, remaining: 0, live: false })]);
  });

  it("rate-limits the OAuth token endpoint in the OAuth shape, and globs match Call Control paths", async () => {
    await control("/faults/rest", { method: "POST", body: { method: "POST", path: "/restapi/oauth/token", status: 429, retryAfterS: 1 } });
    const f = await failure(sdk().platform().login({ jwt: harness().twin.jwt }));
    expect(f).toMatchObject({ status: 429, retryAfter: "1", body: { error: "temporarily_unavailable", errors: [{ errorCode: "CMN-301" }] } });
    const platform = sdk().platform();
    await platform.login({ jwt: harness().twin.jwt });

    await control("/faults/rest", { method: "POST", body: { method: "POST", path: "/restapi/v1.0/account/*/telephony/sessions/*/parties/*/answer", status: 500, count: 1 } });
    const cc = await failure(platform.post("/restapi/v1.0/account/~/telephony/sessions/s-1/parties/p-1/answer", { deviceId: harness().twin.account.deviceId }));
    expect(cc).toMatchObject({ status: 500, body: { errorCode: "CMN-500" } });
    // Spent: the route is itself again (an unknown session is a 404).
    expect((await failure(platform.post("/restapi/v1.0/account/~/telephony/sessions/s-1/parties/p-1/answer", { deviceId: harness().twin.account.deviceId }))).status).toBe(404);
  });

  it("delays a route's responses, and a fault can be removed by id", async () => {
    const platform = sdk().platform();
    await platform.login({ jwt: harness().twin.jwt });
    const slow = await control("/faults/rest", { method: "POST", body: { method: "GET", path: "/restapi/v1.0/account/*/extension/*", delayMs: 400, count: 5 } });
    const t0 = Date.now();
    expect((await platform.get("/restapi/v1.0/account/~/extension/~")).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect((await control(`/faults/rest/${slow.body.id}`, { method: "DELETE" })).body.records).toEqual([]);
    const t1 = Date.now();
    await platform.get("/restapi/v1.0/account/~/extension/~");
    expect(Date.now() - t1).toBeLessThan(400);
    expect((await control("/faults/rest", { method: "POST", body: { path: "/restapi/oauth/token" } })).status).toBe(400);
    expect((await control("/faults/rest", { method: "POST", body: { path: "/restapi/oauth/token", status: 404 } })).status).toBe(400);
  });
});

describe("reset", () => {
  it("DELETE /twin/faults clears every fault", async () => {
    await control("/faults/sip/refuse-connections", { method: "POST", body: { forMs: 60_000 } });
    await control("/faults/sip/reject-register", { method: "POST", body: { status: 503, count: 100 } });
    await control("/faults/sip/ignore-register", { method: "POST", body: { forMs: 60_000 } });
    await control("/faults/rest", { method: "POST", body: { path: "/restapi/**", status: 503, forMs: 60_000 } });
    expect((await tryUpgrade()).open).toBe(false);
    const cleared = await control("/faults", { method: "DELETE" });
    expect(cleared.body).toEqual({ sip: { refuseConnections: null, rejectRegister: null, ignoreRegister: null }, rest: [], media: [] });
    const c = await client();
    expect((await c.register(sipInfo(), { instanceId: "inst-reset" })).startLine).toBe("SIP/2.0 200 OK");
    const platform = new SDK({ server: harness().twin.restUrl, clientId: harness().twin.clientId, clientSecret: harness().twin.clientSecret }).platform();
    await platform.login({ jwt: harness().twin.jwt });
    expect((await control("/faults/sip/reject-register", { method: "POST", body: { status: 401 } })).status).toBe(400);
    expect((await control("/faults/sip/refuse-connections", { method: "POST", body: { forMs: 600_001 } })).status).toBe(400);
  });
});

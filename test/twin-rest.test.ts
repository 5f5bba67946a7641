import http from "node:http";
import type { AddressInfo } from "node:net";
import { SDK } from "@ringcentral/sdk";
import express from "express";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTwinAccount } from "../twin/account.ts";
import type { TwinContext } from "../twin/context.ts";
import { createRestDeps, type RestDeps, restRouter } from "../twin/rest/index.ts";
import { Telephony, type TelephonyParty, type TelephonySession } from "../twin/telephony.ts";

const SESSIONS_FILTER = "/restapi/v1.0/account/~/extension/~/telephony/sessions";

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver on loopback: `/silent*` never echoes Validation-Token, other paths do; events answer after `delayMs`. */
async function startReceiver(delayMs = 30) {
  const received: Received[] = [];
  // Per path, i.e. per subscription: deliveries to different subscriptions may overlap.
  const inFlight = new Map<string, number>();
  const maxInFlight = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "/";
      const body = Buffer.concat(chunks).toString("utf8");
      const token = req.headers["validation-token"];
      if (token) {
        if (!path.startsWith("/silent")) res.setHeader("Validation-Token", token);
        res.end();
        return;
      }
      received.push({ path, headers: req.headers, body });
      const now = (inFlight.get(path) ?? 0) + 1;
      inFlight.set(path, now);
      maxInFlight.set(path, Math.max(maxInFlight.get(path) ?? 0, now));
      setTimeout(() => {
        inFlight.set(path, (inFlight.get(path) ?? 1) - 1);
        res.end();
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received,
    events: (path: string) => received.filter((r) => r.path === path).map((r) => ({ headers: r.headers, json: JSON.parse(r.body) })),
    maxInFlight: (path: string) => maxInFlight.get(path) ?? 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("twin REST side, driven by the real @ringcentral/sdk", () => {
  const account = createTwinAccount();
  const telephony = new Telephony();
  const ctx: TwinContext = {
    account,
    telephony,
    restUrl: "",
    sipWssUrl: "wss://127.0.0.1:1",
    outboundProxy: "127.0.0.1:1",
    outboundProxyBackup: "127.0.0.1:2",
    log: pino({ level: "silent" }),
  };
  let deps: RestDeps;
  let server: http.Server;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let sdkCount = 0;

  const newSdk = (clientSecret = account.clientSecret) =>
    new SDK({ server: ctx.restUrl, clientId: account.clientId, clientSecret, cachePrefix: `twin-test-${++sdkCount}-` });
  const platform = () => sdk.platform();
  let sdk: SDK;

  const rawFetch = (path: string, init: RequestInit & { token?: string } = {}) => {
    const headers = new Headers(init.headers);
    if (init.token) headers.set("Authorization", `Bearer ${init.token}`);
    return fetch(`${ctx.restUrl}${path}`, { ...init, headers });
  };
  const accessToken = async () => (await platform().auth().data()).access_token as string;

  beforeAll(async () => {
    deps = createRestDeps(ctx);
    const app = express();
    app.use(restRouter(ctx, deps));
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    ctx.restUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    receiver = await startReceiver();
    sdk = newSdk();
  });

  afterAll(async () => {
    deps.stop();
    await receiver.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  describe("OAuth", () => {
    it("logs in with the account's JWT", async () => {
      const res = await platform().login({ jwt: account.jwt });
      const json = await res.json();
      expect(json).toMatchObject({ token_type: "bearer", expires_in: 3600, refresh_token_expires_in: 604800, owner_id: account.extensionId });
      expect(await platform().loggedIn()).toBe(true);
    });

    it("rejects a wrong JWT with RingCentral's invalid_grant", async () => {
      const err = await newSdk().platform().login({ jwt: "not-the-jwt" }).catch((e) => e);
      expect(err.response.status).toBe(400);
      const json = await err.response.json();
      expect(json).toMatchObject({ error: "invalid_grant", errors: [{ errorCode: "OAU-213" }] });
      expect(err.message).toBe(json.error_description);
    });

    it("rejects a wrong client secret with 401 invalid_client", async () => {
      const err = await newSdk("wrong-secret").platform().login({ jwt: account.jwt }).catch((e) => e);
      expect(err.response.status).toBe(401);
      expect(await err.response.json()).toMatchObject({ error: "invalid_client", errors: [{ errorCode: "OAU-153" }] });
    });

    it("honours access_token_ttl within RingCentral's 600..3600 s", async () => {
      const res = await newSdk().platform().login({ jwt: account.jwt, access_token_ttl: 60 });
      expect((await res.json()).expires_in).toBe(600);
    });

    it("answers 401 in RingCentral's shape without a valid bearer token", async () => {
      const none = await rawFetch("/restapi/v1.0/account/~/extension/~");
      expect(none.status).toBe(401);
      expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect(await none.json()).toEqual({
        errorCode: "AGW-401",
        message: "Authorization header is not specified",
        errors: [{ errorCode: "AGW-401", message: "Authorization header is not specified" }],
      });
      const bogus = await rawFetch("/restapi/v1.0/account/~/extension/~", { token: "bogus" });
      expect(bogus.status).toBe(401);
      expect(await bogus.json()).toMatchObject({ errorCode: "TokenInvalid", errors: [{ errorCode: "OAU-213" }] });
      // Lower-case scheme, as the SDK sends it.
      const lower = await rawFetch("/restapi/v1.0/account/~/extension/~", { headers: { Authorization: `bearer ${await accessToken()}` } });
      expect(lower.status).toBe(200);
    });

    it("refreshes and rotates the refresh token", async () => {
      const before = await platform().auth().data();
      await platform().refresh();
      const after = await platform().auth().data();
      expect(after.access_token).not.toBe(before.access_token);
      expect(after.refresh_token).not.toBe(before.refresh_token);
      expect((await platform().get("/restapi/v1.0/account/~/extension/~")).status).toBe(200);
      const reuse = await rawFetch("/restapi/oauth/token", {
        method: "POST",
        headers: {
          "Content-Type": "application/x-www-form-urlencoded",
          Authorization: `Basic ${Buffer.from(`${account.clientId}:${account.clientSecret}`).toString("base64")}`,
        },
        body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: before.refresh_token as string }),
      });
      expect(reuse.status).toBe(400);
      expect(await reuse.json()).toMatchObject({ error: "invalid_grant" });
    });

    it("lets the SDK recover from an expired access token by refreshing after the 401", async () => {
      const token = await accessToken();
      deps.tokens.expireAccess(token);
      const expired = await rawFetch("/restapi/v1.0/account/~/extension/~", { token });
      expect(await expired.json()).toMatchObject({ errorCode: "TokenExpired" });
      expect((await platform().get("/restapi/v1.0/account/~/extension/~")).status).toBe(200);
      expect(await accessToken()).not.toBe(token);
    });

    it("revokes the token on logout", async () => {
      const other = newSdk().platform();
      await other.login({ jwt: account.jwt });
      const token = (await other.auth().data()).access_token as string;
      expect((await rawFetch("/restapi/v1.0/account/~/extension/~", { token })).status).toBe(200);
      await other.logout();
      const res = await rawFetch("/restapi/v1.0/account/~/extension/~", { token });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ errorCode: "TokenInvalid" });
    });
  });

  describe("account data", () => {
    it("sip-provision hands out WSS credentials pointing at the twin", async () => {
      const res = await platform().post("/restapi/v1.0/client-info/sip-provision", { sipInfo: [{ transport: "WSS" }] });
      const json = await res.json();
      expect(json.device).toMatchObject({ id: account.deviceId, type: "WebPhone" });
      expect(json.sipInfo).toEqual([
        expect.objectContaining({
          transport: "WSS",
          username: account.sip.username,
          password: account.sip.password,
          authorizationId: account.sip.authorizationId,
          domain: account.sip.domain,
          outboundProxy: ctx.outboundProxy,
          stunServers: [],
          authorizationTypes: ["SipDigest"],
        }),
      ]);
      expect(json.sipFlags).toMatchObject({ voipFeatureEnabled: true, outboundCallsEnabled: true });
      expect(json.pollingInterval).toBeGreaterThan(0);
    });

    it("serves the extension and its phone number, by ~ and by id", async () => {
      const ext = await (await platform().get("/restapi/v1.0/account/~/extension/~")).json();
      expect(ext).toMatchObject({
        id: Number(account.extensionId),
        extensionNumber: account.extensionNumber,
        name: account.name,
        type: "User",
        status: "Enabled",
        account: { id: account.accountId },
        contact: { businessPhone: account.phoneNumber },
      });
      const byId = await platform().get(`/restapi/v1.0/account/${account.accountId}/extension/${account.extensionId}`);
      expect(byId.status).toBe(200);
      const numbers = await (await platform().get("/restapi/v1.0/account/~/extension/~/phone-number")).json();
      expect(numbers.records[0]).toMatchObject({ phoneNumber: account.phoneNumber, usageType: "DirectNumber" });
      expect(numbers.records[0].features).toContain("CallerId");
      const err = await platform().get("/restapi/v1.0/account/~/extension/999").catch((e) => e);
      expect(await err.response.json()).toMatchObject({ errorCode: "CMN-102", message: "Resource for parameter [extensionId] is not found" });
    });

    it("answers malformed JSON with a shaped 400 and keeps serving", async () => {
      const token = await accessToken();
      const bad = await rawFetch("/restapi/v1.0/subscription", { method: "POST", token, headers: { "Content-Type": "application/json" }, body: "{not json" });
      expect(bad.status).toBe(400);
      const json = await bad.json();
      expect(json).toMatchObject({ errorCode: "CMN-101", errors: [{ errorCode: "CMN-101" }] });
      expect(json.message).toMatch(/not valid JSON/);
      expect((await rawFetch("/restapi/v1.0/account/~/extension/~", { token })).status).toBe(200);
      const unknown = await rawFetch("/restapi/v1.0/nope", { token });
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toMatchObject({ errorCode: "AGW-404" });
    });

    it("answers a CORS preflight with the exact origin and credentials", async () => {
      const res = await rawFetch("/restapi/oauth/token", {
        method: "OPTIONS",
        headers: { Origin: "http://127.0.0.1:5173", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type, x-user-agent" },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe("http://127.0.0.1:5173");
      expect(res.headers.get("access-control-allow-credentials")).toBe("true");
      expect(res.headers.get("access-control-allow-headers")).toContain("authorization");
    });
  });

  describe("subscriptions and webhook deliveries", () => {
    const subscribe = (path: string, extra: Record<string, unknown> = {}) =>
      platform().post("/restapi/v1.0/subscription", {
        eventFilters: [SESSIONS_FILTER],
        deliveryMode: { transportType: "WebHook", address: `${receiver.url}${path}`, verificationToken: `vt${path.replace(/\W/g, "")}` },
        ...extra,
      });

    const ringThrough = (): { session: TelephonySession; party: TelephonyParty } => {
      const session = telephony.create([
        {
          accountId: account.accountId,
          extensionId: account.extensionId,
          direction: "Inbound",
          from: { phoneNumber: "+14155550123", name: "Caller" },
          to: { phoneNumber: account.phoneNumber, name: account.name, extensionId: account.extensionId },
        },
      ]);
      const party = session.parties[0];
      telephony.setStatus(session.telephonySessionId, party.id, "Proceeding");
      telephony.setStatus(session.telephonySessionId, party.id, "Answered");
      telephony.setStatus(session.telephonySessionId, party.id, "Disconnected", "CallFinished");
      return { session, party };
    };

    it("creates after the Validation-Token handshake, with the filter expanded", async () => {
      const res = await subscribe("/hook", { expiresIn: 600 });
      const json = await res.json();
      expect(json).toMatchObject({
        status: "Active",
        eventFilters: [`/restapi/v1.0/account/${account.accountId}/extension/${account.extensionId}/telephony/sessions`],
        expiresIn: 600,
        deliveryMode: { transportType: "WebHook", address: `${receiver.url}/hook`, encryption: false },
      });
      expect(json.uri).toBe(`${ctx.restUrl}/restapi/v1.0/subscription/${json.id}`);
      const validation = deps.webhooks.list().find((e) => e.subscriptionId === json.id && e.kind === "validation");
      expect(validation).toMatchObject({ status: 200, url: `${receiver.url}/hook`, body: "" });
      expect(validation?.requestHeaders["Validation-Token"]).toBeTruthy();
    });

    it("fails with SUB-520 when the receiver does not echo the token", async () => {
      const err = await subscribe("/silent").catch((e) => e);
      expect(err.message).toBe("Validation Token is not returned");
      expect(err.response.status).toBe(400);
      expect(await err.response.json()).toMatchObject({ errorCode: "SUB-520", errors: [{ errorCode: "SUB-520" }] });
      const list = await (await platform().get("/restapi/v1.0/subscription")).json();
      expect(list.records.some((r: { deliveryMode: { address: string } }) => r.deliveryMode.address.endsWith("/silent"))).toBe(false);
    });

    it("refuses non-loopback addresses, unknown filters and bad bodies", async () => {
      const offline = await platform()
        .post("/restapi/v1.0/subscription", { eventFilters: [SESSIONS_FILTER], deliveryMode: { transportType: "WebHook", address: "https://example.com/hook" } })
        .catch((e) => e);
      expect(offline.response.status).toBe(400);
      expect(offline.message).toMatch(/offline.*loopback/);
      const closed = await platform()
        .post("/restapi/v1.0/subscription", { eventFilters: [SESSIONS_FILTER], deliveryMode: { transportType: "WebHook", address: "http://127.0.0.1:1/hook" } })
        .catch((e) => e);
      expect(await closed.response.json()).toMatchObject({ errorCode: "SUB-521" }); // nothing listens on port 1
      const filter = await platform()
        .post("/restapi/v1.0/subscription", { eventFilters: ["/restapi/v1.0/account/~/extension/~/presence"], deliveryMode: { transportType: "WebHook", address: `${receiver.url}/hook` } })
        .catch((e) => e);
      expect(await filter.response.json()).toMatchObject({ errorCode: "SUB-500" });
      const body = await platform().post("/restapi/v1.0/subscription", { eventFilters: [] }).catch((e) => e);
      expect(await body.response.json()).toMatchObject({ errorCode: "CMN-101", errors: [{ parameterName: "eventFilters" }] });
    });

    it("delivers Setup → Proceeding → Answered → Disconnected in order, one at a time", async () => {
      const sub = await (await subscribe("/seq")).json();
      const { session, party } = ringThrough();
      await expect.poll(() => receiver.events("/seq").length).toBe(4);
      const events = receiver.events("/seq");
      expect(events.map((e) => e.json.body.parties[0].status.code)).toEqual(["Setup", "Proceeding", "Answered", "Disconnected"]);
      expect(events.map((e) => e.json.body.sequence)).toEqual([1, 2, 3, 4]);
      for (const { headers, json } of events) {
        expect(headers["verification-token"]).toBe("vtseq");
        expect(headers["user-agent"]).toBe("RingCentral-Webhook/8.3");
        expect(headers["content-type"]).toBe("application/json; charset=UTF-8");
        expect(json).toMatchObject({
          event: `/restapi/v1.0/account/${account.accountId}/extension/${account.extensionId}/telephony/sessions`,
          subscriptionId: sub.id,
          ownerId: account.extensionId,
          body: { telephonySessionId: session.telephonySessionId, parties: [{ id: party.id }] },
        });
        expect(json.uuid).toMatch(/^\d+$/);
      }
      expect(receiver.maxInFlight("/seq")).toBe(1);
      await deps.webhooks.idle();
      const log = deps.webhooks.list().filter((e) => e.subscriptionId === sub.id && e.kind === "event");
      expect(log).toHaveLength(4);
      expect(log.every((e) => e.status === 200 && e.requestHeaders["Verification-Token"] === "vtseq")).toBe(true);
    });

    it("renews, updates with PUT (re-validating a new address) and deletes", async () => {
      const sub = await (await subscribe("/crud", { expiresIn: 100 })).json();
      const renewed = await (await platform().post(`/restapi/v1.0/subscription/${sub.id}/renew`)).json();
      expect(renewed).toMatchObject({ id: sub.id, status: "Active", expiresIn: 100 });

      const put = await (await platform().put(`/restapi/v1.0/subscription/${sub.id}`, { eventFilters: [SESSIONS_FILTER], expiresIn: 300 })).json();
      expect(put.expiresIn).toBe(300);

      const silent = await platform()
        .put(`/restapi/v1.0/subscription/${sub.id}`, { deliveryMode: { transportType: "WebHook", address: `${receiver.url}/silent-put` } })
        .catch((e) => e);
      expect(await silent.response.json()).toMatchObject({ errorCode: "SUB-520" });
      const moved = await (
        await platform().put(`/restapi/v1.0/subscription/${sub.id}`, { deliveryMode: { transportType: "WebHook", address: `${receiver.url}/crud2` } })
      ).json();
      expect(moved.deliveryMode.address).toBe(`${receiver.url}/crud2`);

      const del = await platform().delete(`/restapi/v1.0/subscription/${sub.id}`);
      expect(del.status).toBe(204);
      const gone = await platform().get(`/restapi/v1.0/subscription/${sub.id}`).catch((e) => e);
      expect(gone.response.status).toBe(404);
      expect(await gone.response.json()).toMatchObject({ errorCode: "CMN-102", message: "Resource for parameter [subscriptionId] is not found" });
    });

    it("expires a short subscription: it stays readable as Expired and receives nothing more", async () => {
      const sub = await (await subscribe("/short", { expiresIn: 2 })).json();
      expect(sub.expiresIn).toBe(2);
      await expect
        .poll(async () => (await (await platform().get(`/restapi/v1.0/subscription/${sub.id}`)).json()).status, { timeout: 4000, interval: 100 })
        .toBe("Expired");
      ringThrough();
      await expect.poll(() => receiver.events("/seq").length).toBe(8); // still-active subscriptions get the new call
      await deps.webhooks.idle();
      expect(receiver.events("/short")).toHaveLength(0);
      const expired = await (await platform().get(`/restapi/v1.0/subscription/${sub.id}`)).json();
      expect(expired).toMatchObject({ status: "Expired", expiresIn: 0 });
    });
  });

  describe("Call Control", () => {
    const ringing = () => {
      const session = telephony.create([
        {
          accountId: account.accountId,
          extensionId: account.extensionId,
          direction: "Inbound",
          from: { phoneNumber: "+14155550199" },
          to: { phoneNumber: account.phoneNumber, extensionId: account.extensionId },
        },
      ]);
      telephony.setStatus(session.telephonySessionId, session.parties[0].id, "Proceeding");
      return { session, party: session.parties[0] };
    };
    const answerPath = (s: string, p: string) => `/restapi/v1.0/account/~/telephony/sessions/${s}/parties/${p}/answer`;

    it("404s an unknown session in RingCentral's shape", async () => {
      const err = await platform().post(answerPath("s-unknown", "p-unknown-1"), { deviceId: account.deviceId }).catch((e) => e);
      expect(err.response.status).toBe(404);
      expect(await err.response.json()).toMatchObject({
        errorCode: "CMN-102",
        message: "Resource for parameter [telephonySessionId] is not found",
        errors: [{ errorCode: "CMN-102", parameterName: "telephonySessionId" }],
      });
    });

    it("answers a ringing party on the device through answerOnDevice", async () => {
      const { session, party } = ringing();
      const calls: Array<[string, string, string]> = [];
      telephony.answerOnDevice = async (s, p, deviceId) => {
        calls.push([s.telephonySessionId, p.id, deviceId]);
      };
      try {
        const wrongDevice = await platform().post(answerPath(session.telephonySessionId, party.id), { deviceId: "42" }).catch((e) => e);
        expect(await wrongDevice.response.json()).toMatchObject({ errorCode: "CMN-102", errors: [{ parameterName: "deviceId" }] });

        const res = await platform().post(answerPath(session.telephonySessionId, party.id), { deviceId: account.deviceId });
        expect(await res.json()).toMatchObject({ id: party.id, status: { code: "Answered" }, direction: "Inbound", from: { phoneNumber: "+14155550199" } });
        expect(calls).toEqual([[session.telephonySessionId, party.id, account.deviceId]]);

        telephony.setStatus(session.telephonySessionId, party.id, "Answered");
        const conflict = await platform().post(answerPath(session.telephonySessionId, party.id), { deviceId: account.deviceId }).catch((e) => e);
        expect(conflict.response.status).toBe(409);
        expect(calls).toHaveLength(1);

        const got = await (await platform().get(`/restapi/v1.0/account/~/telephony/sessions/${session.telephonySessionId}`)).json();
        expect(got).toMatchObject({ id: session.telephonySessionId, parties: [{ id: party.id, status: { code: "Answered" } }] });
      } finally {
        telephony.answerOnDevice = undefined;
      }
    });

    it("503s when no SIP side can answer", async () => {
      const { session, party } = ringing();
      const err = await platform().post(answerPath(session.telephonySessionId, party.id), { deviceId: account.deviceId }).catch((e) => e);
      expect(err.response.status).toBe(503);
    });
  });
});

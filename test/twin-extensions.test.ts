/**
 * Several extensions on the twin (docs/twin.md, "Extensions"): each has its own SIP credentials,
 * instance limit, phone number, JWT and WebPhone device, and calls, registrations, REST and
 * webhooks keep them apart. Raw SIP clients and the real @ringcentral/sdk; no Chrome.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SDK } from "@ringcentral/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTwin, type Twin } from "../twin/server.ts";
import { until, useFaultHarness } from "./support/fault-harness.ts";
import { inDialog, isInvite, registerHosts, type CallJson } from "./support/fork-legs.ts";
import { rawSipClient, type RawSipClient } from "./support/raw-sip.ts";
import { header } from "../twin/sip/message.ts";

describe("two extensions on one twin are kept apart (SIP, control API)", () => {
  const { control, client, sipInfo, registrations } = useFaultHarness();

  it("adds an extension; each has its own credentials, instance limit and calls", async () => {
    const added = await control<{ extensionNumber: string; phoneNumber: string; jwt: string; deviceId: string; sip: { username: string; password: string; authorizationId: string; domain: string } }>("/extensions", { method: "POST", body: { number: "102", name: "Second Desk" } });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ extensionNumber: "102", extensionId: "400000102", phoneNumber: "+16505550102", deviceId: "803400000102", sip: { username: "16505550102", authorizationId: "802400000102" } });
    expect(added.body.jwt).toMatch(/^ey/);
    expect((await control("/extensions", { method: "POST", body: { number: "102" } })).status).toBe(409);
    expect((await control("/extensions", { method: "POST", body: { number: "12" } })).body).toMatchObject({ error: "invalid_request", message: expect.stringMatching(/^number: /) });
    const listed = (await control<{ records: Array<Record<string, unknown>> }>("/extensions")).body.records;
    expect(listed.map((e) => e.extensionNumber)).toEqual(["101", "102"]);
    expect(JSON.stringify(listed)).not.toContain(added.body.sip.password);
    const second = added.body.sip;

    // 102's password does not open 101's registration.
    const wrong = await client();
    expect((await wrong.register({ ...sipInfo(), password: second.password }, { instanceId: "x" })).startLine).toBe("SIP/2.0 403 Forbidden");

    // Five instances on 102, one on 101 with an instance id 102 also uses: limits count per extension.
    const on102 = await registerHosts(client, second, ["shared", "b2", "b3", "b4", "b5"]);
    const [on101] = await registerHosts(client, sipInfo(), ["shared"]);
    expect((await (await client()).register(second, { instanceId: "b6" })).startLine).toBe("SIP/2.0 603 Too Many Contacts");
    const [alsoOn101] = await registerHosts(client, sipInfo(), ["a2"]);
    const regs = await control<{ records: Array<{ extensionNumber: string }> }>("/registrations?extension=102");
    expect(regs.body.records.map((r) => r.extensionNumber)).toEqual(Array(5).fill("102"));
    expect((await control("/registrations?extension=104")).status).toBe(404);
    const counts = (await control<{ records: Array<{ extensionNumber: string; registered: number; instanceLimit: number }> }>("/extensions")).body.records;
    expect(counts.map((e) => [e.extensionNumber, e.registered, e.instanceLimit])).toEqual([["101", 2, 5], ["102", 5, 5]]);
    expect((await registrations()).filter((r) => r.extensionNumber === "101")).toHaveLength(2);

    // A call to 102 rings its five instances only, addressed to 102.
    expect((await control("/calls", { method: "POST", body: { from: "+16506666666", play: "tone:440", to: "999" } })).body).toMatchObject({ error: "invalid_request", message: expect.stringMatching(/^to: no extension/) });
    const call102 = (await control<{ callId: string }>("/calls", { method: "POST", body: { from: "+16506666666", play: "tone:440", to: "102" } })).body.callId;
    const invites = await Promise.all(on102.map((h) => h.invite()));
    for (const i of invites) expect(header(i, "To")).toBe(`<sip:${second.username}@${second.domain}>`);
    expect(await on101.client.maybeNext(isInvite, 200)).toBeUndefined();
    const json = (await control<CallJson & { to: string }>(`/calls/${call102}`)).body;
    expect(json.to).toBe("+16505550102");
    expect(json.legs.map((l) => l.extensionNumber)).toEqual(Array(5).fill("102"));

    // A call to 101 by its phone number rings 101 only.
    const call101 = (await control<{ callId: string }>("/calls", { method: "POST", body: { from: "+16506666666", play: "tone:440", to: "+16505550100" } })).body.callId;
    const [invite101, other101] = await Promise.all([on101.invite(), alsoOn101.invite()]);
    expect(header(invite101, "To")).toBe(`<sip:${sipInfo().username}@${sipInfo().domain}>`);
    const legs101 = (await control<CallJson>(`/calls/${call101}`)).body.legs;
    expect(legs101.every((l) => l.extensionNumber === "101")).toBe(true);
    expect(legs101.map((l) => l.instanceId).sort()).toEqual(["a2", "shared"]);

    // Dropping 102's sockets leaves 101's alone, and ends 102's ringing call.
    const dropped = await control<{ dropped: unknown[] }>("/faults/sip/drop", { method: "POST", body: { extension: "102" } });
    expect(dropped.body.dropped).toHaveLength(5);
    await until(async () => (await control<CallJson>(`/calls/${call102}`)).body.endReason === "failed", "102's call to fail with its sockets");
    expect((await registrations()).map((r) => r.extensionNumber)).toEqual(["101", "101"]);
    expect((await control<CallJson>(`/calls/${call101}`)).body.state).toBe("ringing");
    const hangup = control(`/calls/${call101}`, { method: "DELETE" });
    await Promise.all([on101.cancelled(invite101, true), alsoOn101.cancelled(other101)]);
    expect((await hangup).body).toMatchObject({ endReason: "cancelled" });
  });
});

/** A webhook receiver on loopback that echoes the Validation-Token and keeps what it is sent. */
async function receiver() {
  const received: Array<{ ownerId: string; event: string; body: { telephonySessionId: string } }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const token = req.headers["validation-token"];
      if (token) res.setHeader("Validation-Token", token);
      else received.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, close: () => new Promise((r) => server.close(r)) };
}

describe("each extension's user: login, sip-provision, webhooks and Call Control (the extensions option)", () => {
  let twin: Twin;
  let hook: Awaited<ReturnType<typeof receiver>>;
  const clients: RawSipClient[] = [];
  beforeAll(async () => {
    twin = await startTwin({ extensions: [{ number: "103", name: "Night Desk" }] });
    hook = await receiver();
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await twin.stop();
    await hook.close();
  });
  const place = async (to: string) =>
    (await (await fetch(`${twin.controlUrl}/calls`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ from: "+16506666666", play: "tone:440", to }) })).json()) as { callId: string; telephonySessionId: string; partyId: string };
  const callJson = async (id: string) => (await (await fetch(`${twin.controlUrl}/calls/${id}`)).json()) as CallJson;

  it("logs in as 103 with 103's JWT and gets 103's extension, SIP credentials, device and events", async () => {
    const ext = twin.account.extensions.find((e) => e.extensionNumber === "103")!;
    const sdk = new SDK({ server: twin.restUrl, clientId: twin.clientId, clientSecret: twin.clientSecret, cachePrefix: "ext-103-" });
    const platform = sdk.platform();
    expect((await (await platform.login({ jwt: ext.jwt })).json()).owner_id).toBe("400000103");
    expect(await (await platform.get("/restapi/v1.0/account/~/extension/~")).json()).toMatchObject({ id: 400000103, extensionNumber: "103", name: "Night Desk" });
    const provision = await (await platform.post("/restapi/v1.0/client-info/sip-provision", { sipInfo: [{ transport: "WSS" }] })).json();
    expect(provision.device).toMatchObject({ id: ext.deviceId, extension: { id: 400000103 } });
    expect(provision.sipInfo[0]).toMatchObject({ username: ext.sip.username, authorizationId: ext.sip.authorizationId, password: ext.sip.password });

    const sub = await (await platform.post("/restapi/v1.0/subscription", {
      eventFilters: ["/restapi/v1.0/account/~/extension/~/telephony/sessions"],
      deliveryMode: { transportType: "WebHook", address: hook.url },
    })).json();
    expect(sub.eventFilters).toEqual(["/restapi/v1.0/account/400000000/extension/400000103/telephony/sessions"]);

    // Two instances of 103 registered with the provisioned sipInfo.
    const hosts = await registerHosts(async () => {
      const c = await rawSipClient(twin.sipWssUrl);
      clients.push(c);
      return c;
    }, provision.sipInfo[0], ["n1", "n2"]);
    const other = await place("101"); // nobody registered on 101: it ends at once, and 103 hears nothing of it
    const mine = await place("103");
    const ringing = await Promise.all(hosts.map((h) => h.invite()));
    await until(() => hook.received.some((e) => e.body.telephonySessionId === mine.telephonySessionId), "103's Setup event");
    expect(hook.received.every((e) => e.ownerId === "400000103" && e.event.endsWith("/extension/400000103/telephony/sessions"))).toBe(true);
    expect(hook.received.some((e) => e.body.telephonySessionId === other.telephonySessionId)).toBe(false);

    // Call Control answer: 101's device is not 103's; 103's device moves the call to its instances.
    const answerPath = `/restapi/v1.0/account/~/telephony/sessions/${mine.telephonySessionId}/parties/${mine.partyId}/answer`;
    const refused = await platform.post(answerPath, { deviceId: twin.account.deviceId }).catch((e: { response?: Response }) => e.response);
    expect(refused?.status).toBe(404);
    const answering = platform.post(answerPath, { deviceId: ext.deviceId });
    await Promise.all(hosts.map((h, n) => h.cancelled(ringing[n], true)));
    expect((await (await answering).json()).status.code).toBe("Answered");
    const auto = await Promise.all(hosts.map((h) => h.invite()));
    for (const i of auto) expect(header(i, "Alert-Info")).toBe("Auto Answer");
    hosts[0].reply(auto[0], 486, "Busy Here");
    await hosts[0].client.next(inDialog("ACK", auto[0]));
    expect((await callJson(mine.callId)).state).toBe("ringing");
    const call = await callJson(mine.callId);
    expect(call.legs.map((l) => [l.instanceId, l.autoAnswer, l.outcome]).sort()).toEqual([
      ["n1", false, "cancelled"],
      ["n1", true, "busy"],
      ["n2", false, "cancelled"],
      ["n2", true, "ringing"],
    ]);
    const hangup = fetch(`${twin.controlUrl}/calls/${mine.callId}`, { method: "DELETE" });
    await hosts[1].cancelled(auto[1]);
    await hangup;
    await platform.logout();
  });
});

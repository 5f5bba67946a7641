import { SDK } from "@ringcentral/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, until, type Stack } from "./support/stack.ts";
import { startTestPipeline } from "./support/twilio-pipeline.ts";

const TOKEN = "verify-0123456789abcdef";

describe("webhook answering and the subscription lifecycle", () => {
  let stack: Stack;
  let pipeline: Awaited<ReturnType<typeof startTestPipeline>>;
  let admin: ReturnType<SDK["platform"]>;
  const subscriptions = async () => (await (await admin.get("/restapi/v1.0/subscription")).json()).records as Array<{ id: string; status: string; deliveryMode: { address: string } }>;
  const hook = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${stack.httpUrl}/webhooks/ringcentral`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });

  beforeAll(async () => {
    pipeline = await startTestPipeline();
    stack = await startStack({
      PIPELINE_URL: pipeline.url,
      ANSWER_MODE: "webhook",
      WEBHOOK_PUBLIC_URL: "self",
      WEBHOOK_VERIFICATION_TOKEN: TOKEN,
      SUBSCRIPTION_EXPIRES_S: "6",
      ANSWER_DENY: "+1999*",
    });
    // Its own cache prefix: SDKs in one process share token storage, and the host logs out at stop.
    admin = new SDK({ server: stack.twin.restUrl, clientId: stack.twin.clientId, clientSecret: stack.twin.clientSecret, cachePrefix: "test-admin-" }).platform();
    await admin.login({ jwt: stack.twin.jwt });
  });
  afterAll(async () => {
    await stack?.stop();
    await pipeline?.close();
  });

  it("subscribes at start, through the Validation-Token handshake", async () => {
    const subs = await subscriptions();
    expect(subs.filter((s) => s.status === "Active")).toHaveLength(1);
    expect(subs[0].deliveryMode.address).toBe(`${stack.httpUrl}/webhooks/ringcentral`);
  });

  it("answers the call the telephony events announce", async () => {
    const placed = await stack.placeCall({ from: "+15550006000", play: "tone:440", hangupAfterMs: 2500 });
    await until(async () => (await stack.twinState(placed.callId)) === "answered", "the webhook-approved answer", 8000);
    await until(() => pipeline.streams.find((s) => s.start?.callSid === placed.telephonySessionId), "the stream");
    await until(async () => (await stack.twinState(placed.callId)) === "ended", "the caller to hang up");
  });

  it("leaves a call the rules refuse ringing", async () => {
    const placed = await stack.placeCall({ from: "+19995550000", play: "tone:440" });
    const hostCall = await until(() => stack.host.calls.byTelephonySession(placed.telephonySessionId), "the call to ring on the host");
    await new Promise((r) => setTimeout(r, 2000));
    expect(await stack.twinState(placed.callId)).toBe("ringing");
    expect(hostCall.endReason).toMatch(/ANSWER_DENY/);
    await stack.hangupFromCaller(placed.callId);
  });

  it("brings a call ringing elsewhere to this host with Call Control answer", async () => {
    const placed = await stack.placeCall({ from: "+15550006001", play: "tone:440", ring: "elsewhere" });
    await until(async () => (await stack.twinState(placed.callId)) === "answered", "Call Control answer then the auto-answer INVITE", 10_000);
    const call = await (await fetch(`${stack.twin.controlUrl}/calls/${placed.callId}`)).json();
    expect(call.trace.some((t: { line: string }) => t.line.startsWith("INVITE"))).toBe(true);
    await stack.hangupFromCaller(placed.callId);
  });

  it("renews the subscription before it expires, and recreates it when RingCentral lost it", async () => {
    const [first] = (await subscriptions()).filter((s) => s.status === "Active");
    await new Promise((r) => setTimeout(r, 7000));
    const active = (await subscriptions()).filter((s) => s.status === "Active");
    expect(active.map((s) => s.id)).toEqual([first.id]);
    await admin.delete(`/restapi/v1.0/subscription/${first.id}`);
    await until(async () => (await subscriptions()).some((s) => s.status === "Active" && s.id !== first.id), "a new subscription", 10_000);
  });

  it("checks Verification-Token, answers the handshake, rejects malformed bodies, ignores replays", async () => {
    const handshake = await hook("", { "Validation-Token": "abc123" });
    expect(handshake.status).toBe(200);
    expect(handshake.headers.get("validation-token")).toBe("abc123");
    expect((await hook({})).status).toBe(403);
    expect((await hook({}, { "Verification-Token": "wrong-token-0123456" })).status).toBe(403);
    const bad = await hook({ uuid: "1", event: "/restapi/v1.0/account/1/extension/2/telephony/sessions", body: { telephonySessionId: "s-1", parties: [] } }, { "Verification-Token": TOKEN });
    expect(bad.status).toBe(400);
    expect((await bad.json()).message).toMatch(/body\.sequence/);
    expect((await hook("{not json", { "Verification-Token": TOKEN })).status).toBe(400);
    // Replay every delivery the twin made: nothing new is answered.
    const deliveries = (await (await fetch(`${stack.twin.controlUrl}/webhooks`)).json()).records.filter((d: { kind: string }) => d.kind === "event");
    const callsBefore = stack.host.calls.list().length;
    const replaysBefore = stack.host.webhooks.replays;
    for (const d of deliveries) expect((await hook(d.body, { "Verification-Token": TOKEN })).status).toBe(200);
    expect(stack.host.webhooks.replays - replaysBefore).toBe(deliveries.length);
    expect(stack.host.calls.list().length).toBe(callsBefore);
  });

  it("deletes the subscription on shutdown", async () => {
    const before = (await subscriptions()).filter((s) => s.status === "Active");
    expect(before).toHaveLength(1);
    await stack.host.stop();
    expect((await subscriptions()).filter((s) => s.status === "Active")).toHaveLength(0);
  });
});

describe("refused calls declined (ANSWER_REFUSED_ACTION=decline, auto mode)", () => {
  it("declines a denied caller and answers the others", async () => {
    const pipeline = await startTestPipeline();
    const stack = await startStack({ PIPELINE_URL: pipeline.url, ANSWER_DENY: "+1999*", ANSWER_REFUSED_ACTION: "decline" });
    try {
      const denied = await stack.placeCall({ from: "+19990001111", play: "tone:440" });
      await until(async () => (await stack.twinState(denied.callId)) === "ended", "the decline");
      expect((await stack.twinCall(denied.callId)).endReason).toBe("declined");
      expect(pipeline.streams.some((s) => s.start?.callSid === denied.telephonySessionId)).toBe(false);
      const allowed = await stack.placeCall({ from: "+15550001111", play: "tone:440", hangupAfterMs: 1500 });
      await until(async () => (await stack.twinState(allowed.callId)) === "ended", "the allowed call to end");
      expect((await stack.twinCall(allowed.callId)).endReason).toBe("caller-hangup");
    } finally {
      await stack.stop();
      await pipeline.close();
    }
  });
});

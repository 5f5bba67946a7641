/**
 * The webhook subscription and Call Control while RingCentral's REST misbehaves (the twin's REST
 * faults), with the real host and Chrome: a renewal that meets a 503 is retried, one that fails
 * until expiry is replaced, and a Call Control answer that meets a 503 still lands in the ring window.
 */
import { SDK } from "@ringcentral/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FETCH_WITHIN_MS } from "../host/webhook-answering.ts";
import { startStack, until, type Stack } from "./support/stack.ts";
import { startTestPipeline } from "./support/twilio-pipeline.ts";

type Sub = { id: string; status: string; expirationTime: string; deliveryMode: { address: string } };

describe("webhook subscription and Call Control under REST faults", () => {
  let stack: Stack;
  let pipeline: Awaited<ReturnType<typeof startTestPipeline>>;
  let admin: ReturnType<SDK["platform"]>;
  const ours = async () => ((await (await admin.get("/restapi/v1.0/subscription")).json()).records as Sub[]).filter((s) => s.deliveryMode.address === `${stack.httpUrl}/webhooks/ringcentral`);
  const fault = async (body: Record<string, unknown>) =>
    (await (await fetch(`${stack.twin.controlUrl}/faults/rest`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })).json()) as { id: string };
  const used = async (id: string) => ((await (await fetch(`${stack.twin.controlUrl}/faults`)).json()).rest as Array<{ id: string; used: number }>).find((r) => r.id === id)!.used;
  const retries = async (operation: string) => (await stack.host.metrics.restRetries.get()).values.filter((v) => v.labels.operation === operation).reduce((n, v) => n + v.value, 0);
  const subscribed = async () => (await stack.host.metrics.webhookSubscribed.get()).values[0]?.value;

  beforeAll(async () => {
    pipeline = await startTestPipeline();
    stack = await startStack({ PIPELINE_URL: pipeline.url, ANSWER_MODE: "webhook", WEBHOOK_PUBLIC_URL: "self", SUBSCRIPTION_EXPIRES_S: "6" });
    admin = new SDK({ server: stack.twin.restUrl, clientId: stack.twin.clientId, clientSecret: stack.twin.clientSecret, cachePrefix: "rest-webhook-admin-" }).platform();
    await admin.login({ jwt: stack.twin.jwt });
  });
  afterAll(async () => {
    await stack?.stop();
    await pipeline?.close();
  });

  it("a renewal answered 503 (Retry-After: 1) is retried: the same subscription, renewed, still Active", async () => {
    const [before] = await ours();
    expect(before.status).toBe("Active");
    const armed = await fault({ method: "POST", path: "/restapi/v1.0/subscription/*/renew", status: 503, retryAfterS: 1, count: 1 });
    await until(async () => (await used(armed.id)) === 1, "the renewal to meet the 503", 10_000);
    const renewed = await until(async () => (await ours()).find((s) => s.id === before.id && Date.parse(s.expirationTime) > Date.parse(before.expirationTime)), "the retried renewal", 10_000);
    expect(renewed.status).toBe("Active");
    expect(await ours()).toHaveLength(1);
    expect(await retries("subscription-renew")).toBe(1);
    expect(await subscribed()).toBe(1);
  });

  it("renewals failing until the subscription expires: it is replaced, never left lost", async () => {
    const [before] = await ours();
    const armed = await fault({ method: "POST", path: "/restapi/v1.0/subscription/*/renew", status: 503, forMs: 12_000 });
    const replaced = await until(async () => (await ours()).find((s) => s.id !== before.id && s.status === "Active"), "a new subscription", 20_000);
    expect(await used(armed.id)).toBeGreaterThan(1);
    expect((await ours()).map((s) => s.id)).toEqual([replaced.id]); // the expired one was removed
    expect(await subscribed()).toBe(1);
    await fetch(`${stack.twin.controlUrl}/faults`, { method: "DELETE" });
  });

  it("a Call Control answer answered 503 once is retried and the call is answered within the ring window", async () => {
    const armed = await fault({ method: "POST", path: "/restapi/v1.0/account/*/telephony/sessions/*/parties/*/answer", status: 503, retryAfterS: 1, count: 1 });
    const before = await retries("call-control-answer");
    const t0 = performance.now();
    const placed = await stack.placeCall({ from: "+15550007001", play: "tone:440", ring: "elsewhere" });
    await until(async () => (await stack.twinState(placed.callId)) === "answered", "the retried Call Control answer", 15_000);
    const answeredMs = performance.now() - t0;
    console.log(`Call Control answer 503 ×1 (Retry-After 1): answered ${Math.round(answeredMs)} ms after the call rang (deadline ${1500 + FETCH_WITHIN_MS} ms)`);
    expect(answeredMs).toBeLessThan(1500 + FETCH_WITHIN_MS);
    expect(await used(armed.id)).toBe(1);
    expect((await retries("call-control-answer")) - before).toBe(1);
    await until(() => pipeline.streams.find((s) => s.start?.callSid === placed.telephonySessionId), "the call's stream");
    await stack.hangupFromCaller(placed.callId);
  });
});

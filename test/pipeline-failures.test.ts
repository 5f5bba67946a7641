import { afterEach, describe, expect, it } from "vitest";
import { rmsDbfs } from "../twin/caller/analysis.ts";
import { startStack, until, type Stack } from "./support/stack.ts";
import { startTestPipeline } from "./support/twilio-pipeline.ts";

const API_TOKEN = "test-api-token-0123456789abcdef";

describe("pipeline failures and hang-up from the pipeline", () => {
  let stack: Stack | undefined;
  let pipeline: Awaited<ReturnType<typeof startTestPipeline>> | undefined;
  afterEach(async () => {
    await stack?.stop();
    await pipeline?.close();
    stack = pipeline = undefined;
  });

  it("pipeline down as a call arrives (message): answers, plays the apology, hangs up", async () => {
    stack = await startStack({ PIPELINE_URL: "ws://127.0.0.1:1", PIPELINE_DOWN_ACTION: "message" });
    const placed = await stack.placeCall({ from: "+15550003001", play: "silence" });
    await until(async () => (await stack!.twinState(placed.callId)) === "ended", "the apology to play and the call to end", 20_000);
    const call = await stack.twinCall(placed.callId);
    expect(call.answeredAtMs).not.toBeNull();
    expect(call.endReason).toBe("agent-hangup");
    const rec = await stack.recording(placed.callId);
    // The caller heard speech (the bundled message, ~5.8 s), not dead air.
    expect(rec.samples.length / rec.rate).toBeGreaterThan(4.5);
    expect(rmsDbfs(rec.samples)).toBeGreaterThan(-35);
    expect(stack.host.calls.byTelephonySession(placed.telephonySessionId)!.endReason).toBe("pipeline-unreachable");
  });

  it("pipeline down as a call arrives (ring): the call is left ringing", async () => {
    stack = await startStack({ PIPELINE_URL: "ws://127.0.0.1:1", PIPELINE_DOWN_ACTION: "ring" });
    const placed = await stack.placeCall({ from: "+15550003002", play: "silence" });
    await until(() => stack!.host.calls.byTelephonySession(placed.telephonySessionId)?.endReason, "the host to give up on the pipeline");
    await new Promise((r) => setTimeout(r, 1000));
    expect(await stack.twinState(placed.callId)).toBe("ringing");
    await stack.hangupFromCaller(placed.callId);
    const hostCall = stack.host.calls.byTelephonySession(placed.telephonySessionId)!;
    await until(() => hostCall.state === "ended", "the host to see the caller give up");
    expect(hostCall.answeredAtMs).toBeUndefined();
  });

  it("pipeline drops mid-call (reconnect): dials again and sends a fresh start", async () => {
    let first = true;
    pipeline = await startTestPipeline(() => (s) => {
      if (!first) return;
      first = false;
      setTimeout(() => s.ws.close(1011, "crash"), 700);
    });
    stack = await startStack({ PIPELINE_URL: pipeline.url, PIPELINE_DROP_ACTION: "reconnect" });
    const placed = await stack.placeCall({ from: "+15550003003", play: "tone:440", hangupAfterMs: 2500 });
    await until(async () => (await stack!.twinState(placed.callId)) === "ended", "the caller to hang up");
    expect((await stack.twinCall(placed.callId)).endReason).toBe("caller-hangup");
    const streams = pipeline.streams.filter((s) => s.start?.callSid === placed.telephonySessionId);
    expect(streams).toHaveLength(2);
    expect(streams[1].start!.streamSid).not.toBe(streams[0].start!.streamSid);
    expect(streams[1].messages.filter((m) => m.event === "media").length).toBeGreaterThan(40);
    expect(stack.host.calls.byTelephonySession(placed.telephonySessionId)!.streamStats!.reconnects).toBe(1);
  });

  it("hangs up through Twilio's REST route, as Pipecat's auto hang-up does", async () => {
    pipeline = await startTestPipeline();
    stack = await startStack({ PIPELINE_URL: pipeline.url, API_TOKEN });
    const placed = await stack.placeCall({ from: "+15550003004", play: "tone:440" });
    const stream = await until(() => pipeline!.streams.find((s) => s.start?.callSid === placed.telephonySessionId), "stream");
    const { accountSid, callSid } = stream.start as unknown as { accountSid: string; callSid: string };
    const url = `${stack.httpUrl}/2010-04-01/Accounts/${accountSid}/Calls/${callSid}.json`;
    const post = (auth: string, body: string) =>
      fetch(url, { method: "POST", headers: { authorization: `Basic ${Buffer.from(auth).toString("base64")}`, "content-type": "application/x-www-form-urlencoded" }, body });
    expect((await post(`${accountSid}:wrong-token-wrong-token`, "Status=completed")).status).toBe(401);
    expect((await post(`${accountSid}:${API_TOKEN}`, "Status=ringing")).status).toBe(400);
    const unknown = await fetch(`${stack.httpUrl}/2010-04-01/Accounts/${accountSid}/Calls/s-nope.json`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${accountSid}:${API_TOKEN}`).toString("base64")}`, "content-type": "application/x-www-form-urlencoded" },
      body: "Status=completed",
    });
    expect(unknown.status).toBe(404);
    await until(async () => (await stack!.twinState(placed.callId)) === "answered", "answer");
    const ok = await post(`${accountSid}:${API_TOKEN}`, "Status=completed");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ sid: callSid, status: "completed" });
    await until(async () => (await stack!.twinState(placed.callId)) === "ended", "the call to end");
    expect((await stack.twinCall(placed.callId)).endReason).toBe("agent-hangup");
    await until(() => stream.stopped, "stop to reach the pipeline");
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { startRawPipeline, type RawPipeline } from "./support/raw-pipeline.ts";
import { startStack, until, type Stack } from "./support/stack.ts";

// The real product (Chrome, WebPhone, twin) with a pipeline the test reaches into.
describe("pipeline sessions that cannot leak or hang", () => {
  let stack: Stack | undefined;
  let pipeline: RawPipeline | undefined;
  afterEach(async () => {
    await stack?.stop();
    await pipeline?.close();
    stack = pipeline = undefined;
  });

  it("the caller hangs up while the host is still dialling the pipeline: the dial is abandoned, nothing stays open", async () => {
    pipeline = await startRawPipeline();
    // The pipeline holds its WebSocket handshake, so the caller's hang-up lands during the dial.
    pipeline.hold = true;
    // A connect timeout far beyond the waits below: only the hang-up can end the dial in time.
    stack = await startStack({ PIPELINE_URL: pipeline.url, PIPELINE_CONNECT_TIMEOUT_MS: "30000" });
    const placed = await stack.placeCall({ from: "+15550003010", play: "tone:440" });
    const upgrade = await until(() => pipeline!.upgrades[0], "the host to dial the pipeline");
    const hostCall = await until(() => stack!.host.calls.byTelephonySession(placed.telephonySessionId), "the host's call");
    expect(hostCall.state).toBe("answering");
    await stack.hangupFromCaller(placed.callId);
    await until(() => hostCall.state === "ended", "the host to see the caller hang up");
    expect(hostCall.endReason).toBe("remote-hangup");
    expect(hostCall.answeredAtMs).toBeUndefined();
    await until(() => upgrade.closed, "the host to drop the half-made pipeline connection", 5_000);
    // The pipeline finishes its handshake late: no stream comes of it.
    upgrade.complete();
    await new Promise((r) => setImmediate(r));
    expect(pipeline.connections.filter((c) => !c.closed)).toEqual([]);
    for (const c of pipeline.connections) {
      const events = pipeline.events(c);
      if (events.includes("start")) expect(events).toContain("stop");
    }
    const twinCall = await stack.twinCall(placed.callId);
    expect(twinCall.state).toBe("ended");
    expect(twinCall.answeredAtMs).toBeNull();
    expect(stack.host.calls.active()).toEqual([]);
    // Not a pipeline failure: the pipeline was never at fault.
    expect((await stack.host.metrics.pipelineFailures.get()).values).toEqual([]);
    await until(async () => (await stack!.host.pageSessionCount()) === 0, "the page to drop the call session");
  });

  it("a pipeline that stops answering pings mid-call: the call ends as pipeline-unresponsive after 10 s, counted", async () => {
    pipeline = await startRawPipeline({ autoPong: false });
    stack = await startStack({ PIPELINE_URL: pipeline.url });
    const placed = await stack.placeCall({ from: "+15550003011", play: "tone:440" });
    const conn = await until(() => pipeline!.connections[0], "the pipeline's stream");
    await until(async () => (await stack!.twinCall(placed.callId)).state === "ended", "the host to give up on the pipeline", 20_000);
    const hostCall = stack.host.calls.byTelephonySession(placed.telephonySessionId)!;
    await until(() => hostCall.state === "ended", "the host to end the call");
    expect(hostCall.endReason).toBe("pipeline-unresponsive");
    expect((await stack.twinCall(placed.callId)).endReason).toBe("agent-hangup");
    // Caller audio flowed the whole time: silence from the pipeline, not from the call, decided it.
    expect(conn.messages.filter((m) => m.event === "media").length).toBeGreaterThan(400);
    expect(conn.pings).toBeGreaterThanOrEqual(1); // pinged, and never answered
    const closed = await until(() => conn.closed, "the socket to be cut");
    // 10 s of silence from the host's open (which follows the pipeline's accept), then cut at once.
    const silentMs = closed.atMs - conn.openedAtMs;
    expect(silentMs).toBeGreaterThanOrEqual(10_000 - 5);
    expect(silentMs).toBeLessThan(11_000);
    const failures = (await stack.host.metrics.pipelineFailures.get()).values.map((v) => [v.labels.kind, v.value]);
    expect(failures).toEqual([["unresponsive", 1]]);
  });
});

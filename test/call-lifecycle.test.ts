import { describe, expect, it } from "vitest";
import { CallLifecycle } from "../host/call-lifecycle.ts";
import { CallRegistry } from "../host/calls.ts";
import { Metrics } from "../host/metrics.ts";
import { FakePage, FakeStreams, quietLog } from "./support/fake-page.ts";

function setup() {
  const page = new FakePage();
  const streams = new FakeStreams();
  const calls = new CallRegistry(2);
  const metrics = new Metrics();
  const lifecycle = new CallLifecycle({ calls, page, metrics, log: quietLog, sampleRate: 8000 });
  const call = calls.add({ sipCallId: "sip-1", direction: "inbound", from: "+15550001111", to: "+15550009999", slot: calls.takeSlot() });
  call.stream = streams.create(call, call.slot!);
  return { page, streams, calls, metrics, lifecycle, call };
}

const ended = async (m: Metrics) => (await m.callsEnded.get()).values.map((v) => ({ reason: v.labels.reason, n: v.value }));

describe("call lifecycle", () => {
  it("ends a call once: stream closed, recording kept, slot freed, counted once", async () => {
    const { lifecycle, call, calls, metrics, streams } = setup();
    lifecycle.onAnswered({ type: "answered", sipCallId: "sip-1", codec: "PCMU", telephonySessionId: "s-1", partyId: "p-1" });
    expect(call).toMatchObject({ state: "answered", codec: "PCMU", telephonySessionId: "s-1" });
    lifecycle.onEnded({ type: "ended", sipCallId: "sip-1", by: "remote" });
    lifecycle.onEnded({ type: "ended", sipCallId: "sip-1", by: "remote" });
    lifecycle.finish(call, "shutdown");
    await lifecycle.flush();
    expect(call).toMatchObject({ state: "ended", endReason: "remote-hangup", recording: { path: `/rec/${call.id}.wav`, durationMs: 1234 } });
    expect(call.stream).toBeUndefined();
    expect(call.streamStats?.underruns).toBe(2);
    expect(streams.made[0].closedWith).toEqual(["remote-hangup"]);
    expect(await ended(metrics)).toEqual([{ reason: "remote-hangup", n: 1 }]);
    expect((await metrics.underruns.get()).values[0].value).toBe(2);
    expect([calls.takeSlot(), calls.takeSlot()]).toEqual([0, 1]);
  });

  it("a reason the host set on purpose outlives how the page saw the end", async () => {
    const { lifecycle, call, metrics } = setup();
    await lifecycle.hangup(call.id, "pipeline-hangup");
    lifecycle.onEnded({ type: "ended", sipCallId: "sip-1", by: "local" });
    expect(call.endReason).toBe("pipeline-hangup");
    expect(await ended(metrics)).toEqual([{ reason: "pipeline-hangup", n: 1 }]);
  });

  it("a hang-up the page cannot confirm still ends the call", async () => {
    const { lifecycle, call, page } = setup();
    page.failing.add("hangup");
    await lifecycle.hangup(call.id, "api-hangup");
    expect(call).toMatchObject({ state: "ended", endReason: "api-hangup" });
    // An ended call is not hung up again.
    await lifecycle.hangup(call.id);
    expect(page.types()).toEqual(["hangup"]);
  });

  it("detaching a stream keeps the call and its recording", async () => {
    const { lifecycle, call, streams } = setup();
    lifecycle.detachStream(call, "transferred-blind");
    await lifecycle.flush();
    expect(call.state).toBe("ringing");
    expect(call.recording?.durationMs).toBe(1234);
    expect(streams.made[0].closedWith).toEqual(["transferred-blind"]);
    lifecycle.finishAll("page-lost");
    expect(call).toMatchObject({ state: "ended", endReason: "page-lost" });
    expect(call.streamStats?.callerFrames).toBe(10);
  });

  it("frees a slot once, however many paths release it", () => {
    const { lifecycle, call, calls } = setup();
    const slot = call.slot!;
    lifecycle.finish(call, "remote-hangup");
    // A late path (a failed dial, a given-up answer) frees the same call's slot again.
    calls.releaseSlot(call);
    calls.returnSlot(slot);
    expect([calls.takeSlot(), calls.takeSlot(), calls.takeSlot()]).toEqual([0, 1, undefined]);
  });

  it("counts each stream's pipeline drops by kind as the stream closes", async () => {
    const { lifecycle, call, metrics } = setup();
    call.stream!.stats.drops.unresponsive = 1;
    lifecycle.finish(call, "pipeline-unresponsive");
    expect((await metrics.pipelineFailures.get()).values.map((v) => [v.labels.kind, v.value])).toEqual([["unresponsive", 1]]);
  });

  it("maps how the page saw the end to end reasons", () => {
    for (const [by, reason] of [["local", "host-hangup"], ["failed", "failed"], ["remote", "remote-hangup"]] as const) {
      const { lifecycle, call } = setup();
      lifecycle.onEnded({ type: "ended", sipCallId: "sip-1", by });
      expect(call.endReason).toBe(reason);
    }
  });
});

import { describe, expect, it } from "vitest";
import type { AmdRequest } from "../bridge/amd/index.ts";
import type { CallStream } from "../bridge/stream.ts";
import { CallLifecycle } from "../host/call-lifecycle.ts";
import { CallRegistry } from "../host/calls.ts";
import { Metrics } from "../host/metrics.ts";
import { Outbound } from "../host/outbound.ts";
import { FakePage, FakeStreams, quietLog } from "./support/fake-page.ts";
import { until } from "./support/until.ts";

// Outbound calls without Chrome: the fake page plays `outgoing` and `answered` as the real one does.
function setup() {
  const order: string[] = [];
  const page = new FakePage(order);
  const streams = new FakeStreams(order);
  const calls = new CallRegistry(2);
  const lifecycle = new CallLifecycle({ calls, page, metrics: new Metrics(), log: quietLog, sampleRate: 8000 });
  const outbound = new Outbound({ calls, page, streams, lifecycle, log: quietLog, sampleRate: 8000, extensionNumber: () => "101" });
  page.onRequest = (cmd, requestId) => {
    if (cmd.type !== "call") return;
    page.emit({ type: "outgoing", requestId: requestId!, sipCallId: "sip-out", to: cmd.to });
    setImmediate(() => {
      const answered = { type: "answered", sipCallId: "sip-out", codec: "PCMU" } as const;
      lifecycle.onAnswered(answered);
      page.emit(answered);
    });
  };
  const place = (amd?: AmdRequest) => outbound.placeCall("+15550002222", undefined, { amd });
  const ended = (by: "remote" | "local" = "remote") => lifecycle.onEnded({ type: "ended", sipCallId: "sip-out", by });
  /** Every continuation already queued has run. */
  const settled = () => new Promise((r) => setImmediate(r));
  return { page, streams, calls, lifecycle, order, place, ended, settled };
}

describe("outbound calls release what each stage took", () => {
  it("ended during answering-machine detection: listening stops at once, the pipeline is never dialled", async () => {
    const { place, ended, order, streams, calls, settled } = setup();
    const call = await place({ mode: "leave-message" });
    const stream = call.stream as CallStream;
    await until(() => stream.tap !== undefined, "detection to listen");
    ended();
    // Without the stream's close ending it, detection holds on for its 25 s guard.
    await until(() => stream.tap === undefined, "detection to stop");
    await settled();
    expect(order).not.toContain("pipeline:open");
    expect(streams.made[0].closedWith).toEqual(["remote-hangup"]);
    expect([calls.takeSlot(), calls.takeSlot(), calls.takeSlot()]).toEqual([0, 1, undefined]);
  });

  it("the stream detached during detection (a transfer): no pipeline is dialled for it", async () => {
    const { place, lifecycle, order, settled } = setup();
    const call = await place({ mode: "detect" });
    const stream = call.stream as CallStream;
    await until(() => stream.tap !== undefined, "detection to listen");
    lifecycle.detachStream(call, "transferred-blind");
    await until(() => stream.tap === undefined, "detection to stop");
    await settled();
    expect(order).not.toContain("pipeline:open");
    expect(call.state).toBe("answered");
  });

  it("ended while the pipeline is dialled: the dial is abandoned, nobody hangs up again", async () => {
    const { place, ended, page, streams, settled } = setup();
    streams.hold = true;
    const call = await place();
    await until(() => streams.made[0].release !== undefined, "the dial");
    ended();
    streams.made[0].release!();
    await settled();
    expect(page.types()).toEqual(["call"]);
    expect(call).toMatchObject({ state: "ended", endReason: "remote-hangup" });
    expect(streams.made[0].opened).toEqual([]);
    expect(streams.made[0].closedWith).toEqual(["remote-hangup"]);
  });

  it("a pipeline that cannot be reached hangs up the call", async () => {
    const { place, ended, page, streams } = setup();
    streams.down = true;
    const call = await place();
    await until(() => page.types().includes("hangup"), "the hang-up");
    ended("local");
    expect(call.endReason).toBe("pipeline-unreachable");
  });
});

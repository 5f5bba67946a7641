import { describe, expect, it } from "vitest";
import { CallControl } from "../host/call-control.ts";
import { CallLifecycle } from "../host/call-lifecycle.ts";
import { CallRegistry } from "../host/calls.ts";
import { Metrics } from "../host/metrics.ts";
import { FakePage, FakeStreams, quietLog } from "./support/fake-page.ts";
import { until } from "./support/until.ts";

// Transfers without Chrome: an answered call with a (fake) stream; the page refuses the transfer.
function setup() {
  const page = new FakePage();
  const streams = new FakeStreams();
  const calls = new CallRegistry(2);
  const lifecycle = new CallLifecycle({ calls, page, metrics: new Metrics(), log: quietLog, sampleRate: 8000 });
  const control = new CallControl({ calls, page, streams, lifecycle, log: quietLog });
  const call = calls.add({ sipCallId: "sip-1", direction: "inbound", from: "+15550001111", to: "+15550009999", slot: calls.takeSlot() });
  call.stream = streams.create(call, call.slot!);
  lifecycle.onAnswered({ type: "answered", sipCallId: "sip-1", codec: "PCMU" });
  page.failing.add("transfer");
  const ended = () => lifecycle.onEnded({ type: "ended", sipCallId: "sip-1", by: "remote" });
  return { page, streams, calls, lifecycle, control, call, ended };
}

describe("transfers release what each stage took", () => {
  it("a failed transfer gives the call back to the pipeline on a fresh stream", async () => {
    const { control, call, streams } = setup();
    await expect(control.transfer(call.id, "+15550003333", "blind")).rejects.toMatchObject({ status: 502 });
    expect(streams.made[0].closedWith).toEqual(["transferred-blind"]);
    expect(streams.made[1].opened).toHaveLength(1);
    expect(streams.made[1].mediaUp).toBe(true);
    expect(call.endReason).toBeUndefined();
  });

  it("the caller hangs up while the failed transfer's re-dial is in flight: the new stream closes with the call", async () => {
    const { control, call, streams, page, calls, ended } = setup();
    streams.hold = true;
    const transfer = control.transfer(call.id, "+15550003333", "warm");
    await until(() => streams.made[1]?.release !== undefined, "the re-dial");
    ended();
    streams.made[1].release!();
    await expect(transfer).rejects.toMatchObject({ status: 502 });
    expect(page.types()).toEqual(["transfer", "unhold"]);
    expect(call).toMatchObject({ state: "ended", endReason: "remote-hangup" });
    expect(streams.made[1].closedWith).toEqual(["remote-hangup"]);
    expect(streams.made[1].mediaUp).toBe(false);
    expect([calls.takeSlot(), calls.takeSlot(), calls.takeSlot()]).toEqual([0, 1, undefined]);
  });

  it("the caller hangs up during a transfer that then fails: the call keeps its end, no stream is made", async () => {
    const { control, call, streams, page, ended } = setup();
    page.holding.add("transfer");
    const transfer = control.transfer(call.id, "+15550003333", "blind");
    await until(() => page.types().includes("transfer"), "the transfer to be asked");
    ended();
    page.release("transfer");
    await expect(transfer).rejects.toMatchObject({ status: 502 });
    expect(call.state).toBe("ended");
    // The reason the host set for the transfer stands (the page cannot say which BYE this was).
    expect(call.endReason).toBe("transferred-blind");
    expect(streams.made).toHaveLength(1);
  });
});

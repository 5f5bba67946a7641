import pino from "pino";
import { describe, expect, it } from "vitest";
import { AnswerRules } from "../host/answer-rules.ts";
import { Answering } from "../host/answering.ts";
import { CallLifecycle } from "../host/call-lifecycle.ts";
import { CallRegistry } from "../host/calls.ts";
import type { AnswerConfig } from "../host/config.ts";
import { Metrics } from "../host/metrics.ts";
import { FETCH_WITHIN_MS } from "../host/webhook-answering.ts";
import type { TelephonyEvent } from "../host/webhooks.ts";
import { FakePage, FakeStreams, quietLog } from "./support/fake-page.ts";
import { until } from "./support/until.ts";

// The answering decision without Chrome: a fake page records commands, fake streams the pipeline.
function setup(answer: Partial<AnswerConfig> = {}, downAction: "message" | "ring" = "message", opts: { draining?: boolean } = {}) {
  const config: AnswerConfig = { mode: "auto", maxConcurrentCalls: 2, allow: [], deny: [], refusedAction: "ring", ...answer };
  const order: string[] = [];
  const page = new FakePage(order);
  const streams = new FakeStreams(order);
  const calls = new CallRegistry(config.maxConcurrentCalls);
  const metrics = new Metrics();
  const lifecycle = new CallLifecycle({ calls, page, metrics, log: quietLog, sampleRate: 8000 });
  const fetched: string[] = [];
  const logged: string[] = [];
  const fetchSignals: AbortSignal[] = [];
  const answering = new Answering({
    answer: config,
    downAction,
    calls,
    rules: new AnswerRules(config),
    page,
    streams,
    lifecycle,
    metrics,
    log: opts.draining ? pino({ level: "info" }, { write: (line: string) => void logged.push(JSON.parse(line).msg) }) : quietLog,
    apology: new Int16Array(800),
    sampleRate: 8000,
    stopping: () => false,
    extensionId: () => "101",
    // Like a Call Control answer RingCentral keeps answering 503: it goes on until its signal ends it.
    fetchCall: (tsid, party, signal) => {
      fetched.push(`${tsid}/${party}`);
      fetchSignals.push(signal);
      return new Promise<void>((_r, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
    },
    draining: () => opts.draining ?? false,
  });
  let n = 0;
  const ring = (from = "+15550001111", telephonySessionId?: string) =>
    answering.onIncoming({ type: "incoming", sipCallId: `sip-${++n}`, from, to: "+15550009999", autoAnswer: false, telephonySessionId, partyId: telephonySessionId && "p-1" });
  return { answering, page, streams, calls, metrics, order, ring, fetched, fetchSignals, lifecycle, logged };
}

const inboundEvent = (telephonySessionId: string, from: string, code = "Proceeding"): TelephonyEvent =>
  ({ telephonySessionId, sequence: 1, parties: [{ id: "p-1", direction: "Inbound", extensionId: "101", from: { phoneNumber: from }, status: { code } }] }) as unknown as TelephonyEvent;

describe("answering", () => {
  it("dials the pipeline before it answers, with the call's slot", async () => {
    const { ring, order, page, calls, streams } = setup();
    await ring();
    expect(order).toEqual(["pipeline:open", "page:answer"]);
    const [call] = calls.list();
    expect(call.state).toBe("answering");
    expect(page.sent[0]).toEqual({ type: "answer", sipCallId: "sip-1", slot: call.slot });
    expect(streams.made[0].opened).toHaveLength(1);
  });

  it("refuses callers the rules deny: left ringing, or declined when ANSWER_REFUSED_ACTION=decline", async () => {
    const ringing = setup({ deny: [/^\+1999.*$/] });
    await ringing.ring("+19990001111");
    expect(ringing.order).toEqual([]);
    expect(ringing.calls.list()[0].endReason).toMatch(/^refused: caller \+19990001111 matches ANSWER_DENY/);

    const declining = setup({ allow: [/^\+1650.*$/], refusedAction: "decline" });
    await declining.ring("+15550001111");
    expect(declining.page.types()).toEqual(["decline"]);
    expect(declining.streams.made).toHaveLength(0);
  });

  it("does not take more calls than MAX_CONCURRENT_CALLS; ringing calls do not count", async () => {
    const { ring, page, calls } = setup({ maxConcurrentCalls: 1, refusedAction: "decline" });
    await ring();
    await ring();
    expect(page.types()).toEqual(["answer", "decline"]);
    expect(calls.list()[1].endReason).toBe("refused: at MAX_CONCURRENT_CALLS (1)");
  });

  it("pipeline down, PIPELINE_DOWN_ACTION=message: answers, plays the apology, hangs up", async () => {
    const { ring, streams, page, calls, metrics } = setup();
    streams.down = true;
    await ring();
    expect(page.types()).toEqual(["answer", "hangup"]);
    expect(streams.made[0].announced).toBe(1);
    expect(calls.list()[0].endReason).toBe("pipeline-unreachable");
    expect((await metrics.pipelineFailures.get()).values[0].value).toBe(1);
  });

  it("pipeline down, PIPELINE_DOWN_ACTION=ring: the call keeps ringing and gives its slot back", async () => {
    const { ring, streams, page, calls } = setup({}, "ring");
    streams.down = true;
    await ring();
    expect(page.types()).toEqual([]);
    const [call] = calls.list();
    expect(call.state).toBe("ringing");
    expect(call.slot).toBeUndefined();
    expect(streams.made[0].closedWith).toEqual(["pipeline-unreachable"]);
    // Both slots are free again.
    expect([calls.takeSlot(), calls.takeSlot(), calls.takeSlot()]).toEqual([0, 1, undefined]);
  });

  for (const downAction of ["message", "ring"] as const) {
    it(`the caller hangs up while the pipeline is dialled (${downAction}): nothing answered, nothing down, the slot freed once`, async () => {
      const { ring, streams, page, calls, metrics, lifecycle } = setup({}, downAction);
      streams.hold = true;
      const ringing = ring();
      await until(() => streams.made[0]?.release !== undefined, "the pipeline dial to start");
      const [call] = calls.list();
      lifecycle.onEnded({ type: "ended", sipCallId: call.sipCallId, by: "remote" });
      streams.made[0].release!();
      await ringing;
      expect(page.types()).toEqual([]);
      expect(call).toMatchObject({ state: "ended", endReason: "remote-hangup" });
      expect(streams.made[0].closedWith).toEqual(["remote-hangup"]);
      expect((await metrics.pipelineFailures.get()).values).toEqual([]);
      expect([calls.takeSlot(), calls.takeSlot(), calls.takeSlot()]).toEqual([0, 1, undefined]);
    });
  }

  it("the page cannot answer: the call is hung up and its pipeline stream closed", async () => {
    const { ring, streams, page, calls, lifecycle } = setup();
    page.failing.add("answer");
    await ring();
    expect(page.types()).toEqual(["answer", "hangup"]);
    const [call] = calls.list();
    lifecycle.onEnded({ type: "ended", sipCallId: call.sipCallId, by: "local" });
    expect(call.endReason).toBe("failed");
    expect(streams.made[0].closedWith).toEqual(["failed"]);
  });

  it("webhook mode: answers only once the webhook approved the session", async () => {
    const { answering, ring, page, fetched } = setup({ mode: "webhook" });
    await ring("+15550001111", "s-1");
    expect(page.types()).toEqual([]); // no verdict yet: keeps ringing
    answering.onTelephonyEvent(inboundEvent("s-1", "+15550001111"));
    await until(() => page.types().includes("answer"), "the answer");
    expect(page.sent.at(-1)).toMatchObject({ type: "answer", sipCallId: "sip-1" });
    expect(fetched).toEqual([]);
  });

  it("webhook mode: Call Control answers a call ringing elsewhere, retried until the session ends or the ring window's deadline", async () => {
    const { answering, fetched, fetchSignals } = setup({ mode: "webhook" });
    answering.onTelephonyEvent(inboundEvent("s-3", "+15550003333"));
    await until(() => fetched.length === 1, "the Call Control answer");
    expect(fetched).toEqual(["s-3/p-1"]);
    expect(fetchSignals[0].aborted).toBe(false);
    answering.onTelephonyEvent({ ...inboundEvent("s-3", "+15550003333", "Disconnected"), sequence: 2 });
    expect(fetchSignals[0].aborted).toBe(true);

    const t0 = performance.now();
    answering.onTelephonyEvent(inboundEvent("s-4", "+15550004444"));
    await until(() => fetched.length === 2, "the second Call Control answer");
    await until(() => fetchSignals[1].aborted, "the deadline", FETCH_WITHIN_MS + 5000);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(FETCH_WITHIN_MS);
  });

  it("draining, on its own: a call rings on (never declined), and webhook mode fetches nothing with Call Control", async () => {
    const auto = setup({}, "message", { draining: true });
    await auto.ring("+15550001111", "s-5");
    expect(auto.page.types()).toEqual([]);
    expect(auto.calls.list()[0]).toMatchObject({ state: "ringing", endReason: "refused: this host is draining" });
    const hook = setup({ mode: "webhook" }, "message", { draining: true });
    hook.answering.onTelephonyEvent(inboundEvent("s-6", "+15550006666"));
    await until(() => hook.logged.includes("call control: not fetching, this host is draining"), "the fetch skipped", FETCH_WITHIN_MS + 5000);
    expect(hook.fetched).toEqual([]);
  });

  it("webhook mode: a session refused by the rules is refused when it rings here", async () => {
    const { answering, ring, page, calls } = setup({ mode: "webhook", deny: [/^\+1999.*$/], refusedAction: "decline" });
    answering.onTelephonyEvent(inboundEvent("s-2", "+19990002222"));
    await ring("+19990002222", "s-2");
    expect(page.types()).toEqual(["decline"]);
    expect(calls.list()[0].endReason).toMatch(/^refused:/);
  });
});

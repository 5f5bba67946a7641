/**
 * Several hosts' call logic against one real Redis, in one process, without Chrome: each has its
 * own registry, answering, lifecycle, call control and RedisCluster, and a fake page that behaves
 * like the real one (an `answer` is followed by `answered`, a `hangup` by `ended`). `Line` plays
 * RingCentral: an inbound call rings on every host at once, and once one answers the others get
 * CANCEL (their call ends `remote`).
 */
import { AnswerRules } from "../../host/answer-rules.ts";
import { Answering } from "../../host/answering.ts";
import { CallActions } from "../../host/call-actions.ts";
import { CallControl } from "../../host/call-control.ts";
import { CallLifecycle } from "../../host/call-lifecycle.ts";
import { CallRegistry, type Call } from "../../host/calls.ts";
import type { ClusterTiming } from "../../host/cluster/cluster.ts";
import { ClusterCalls } from "../../host/cluster/cluster-calls.ts";
import { RedisCluster } from "../../host/cluster/redis-cluster.ts";
import type { AnswerConfig } from "../../host/config.ts";
import { Metrics } from "../../host/metrics.ts";
import type { TelephonyEvent } from "../../host/webhooks.ts";
import { FakePage, FakeStreams, quietLog } from "./fake-page.ts";

export interface ClusterHostOptions {
  hostId: string;
  extensionId: string;
  slots?: number;
  /** ANSWER_MAX_PER_MINUTE (cluster-wide) and CLUSTER_MAX_CONCURRENT_CALLS. */
  maxPerMinute?: number;
  clusterMax?: number;
  answer?: Partial<AnswerConfig>;
  timing?: Partial<ClusterTiming>;
  /** Take an instance lease at start (default true). */
  lease?: boolean;
  /** Bid for the cluster's webhook subscription. */
  bid?: boolean;
}

export class ClusterTestHost {
  readonly page = new FakePage();
  readonly streams = new FakeStreams();
  readonly calls: CallRegistry;
  readonly lifecycle: CallLifecycle;
  readonly answering: Answering;
  readonly cluster: RedisCluster;
  readonly clusterCalls: ClusterCalls;
  readonly actions: CallActions;
  readonly metrics = new Metrics();
  instanceId: string | undefined;
  draining = false;
  stopping = false;
  /** Webhook mode: the events this host handled, and the Call Control answers it asked for (with its device). */
  readonly events: TelephonyEvent[] = [];
  readonly fetched: Array<{ telephonySessionId: string; deviceId: string }> = [];
  leading = false;
  /** Set when the cluster says the instance lease went to another host (Host unregisters then). */
  leaseLost = false;
  /** Called when this host's page is told to answer a call (Line cancels the other forks). */
  onAnswer: ((call: Call) => void) | undefined;
  private readonly abort = new AbortController();

  private constructor(
    redisUrl: string,
    readonly o: ClusterHostOptions,
  ) {
    const answer: AnswerConfig = { mode: "auto", maxConcurrentCalls: o.slots ?? 2, allow: [], deny: [], refusedAction: "ring", ...o.answer };
    const calls = (this.calls = new CallRegistry(answer.maxConcurrentCalls));
    const metrics = this.metrics;
    const page = this.page;
    this.lifecycle = new CallLifecycle({ calls, page, metrics, log: quietLog, sampleRate: 8000 });
    const lifecycle = this.lifecycle;
    const control = new CallControl({ calls, page, streams: this.streams, lifecycle, log: quietLog });
    this.cluster = new RedisCluster({ url: redisUrl, hostId: o.hostId, log: quietLog, timing: o.timing });
    this.clusterCalls = new ClusterCalls(calls, this.cluster, { maxActive: o.clusterMax, maxPerMinute: o.maxPerMinute }, quietLog);
    this.actions = new CallActions({ calls, clusterCalls: this.clusterCalls, lifecycle, control, deviceId: () => `device-${o.hostId}`, draining: () => this.draining });
    this.answering = new Answering({
      answer,
      downAction: "message",
      calls,
      rules: new AnswerRules({ ...answer, maxPerMinute: undefined }),
      page,
      streams: this.streams,
      lifecycle,
      metrics,
      log: quietLog,
      apology: new Int16Array(800),
      sampleRate: 8000,
      stopping: () => this.stopping,
      extensionId: () => o.extensionId,
      // As RingCentral does on a Call Control answer: the INVITE comes to the device that asked (see fetchedHere).
      fetchCall: async (telephonySessionId) => void this.fetched.push({ telephonySessionId, deviceId: `device-${o.hostId}` }),
      claims: this.clusterCalls,
      draining: () => this.draining,
    });
    // The page as the real one behaves: `answered` follows an answer, `ended` a hangup or decline.
    page.onRequest = (cmd) => {
      if (cmd.type === "answer") {
        const call = calls.bySipCallId(cmd.sipCallId);
        queueMicrotask(() => {
          lifecycle.onAnswered({ type: "answered", sipCallId: cmd.sipCallId, codec: "PCMU" });
          if (call) this.onAnswer?.(call);
        });
      }
      if (cmd.type === "hangup" || cmd.type === "decline") queueMicrotask(() => lifecycle.onEnded({ type: "ended", sipCallId: cmd.sipCallId, by: "local" }));
    };
  }

  static async start(redisUrl: string, o: ClusterHostOptions): Promise<ClusterTestHost> {
    const h = new ClusterTestHost(redisUrl, o);
    // As Host wires it: each delivery handled once, heard by every host; the subscription's lease bid for.
    h.cluster.onEvent((e) => {
      h.events.push(e);
      h.answering.onTelephonyEvent(e);
    });
    if (o.bid) h.cluster.onLeadership((leading) => (h.leading = leading));
    h.cluster.onLeaseLost(() => (h.leaseLost = true));
    await h.cluster.connect();
    await h.cluster.join(o.extensionId, h.actions.member(o.hostId));
    if (o.lease !== false) h.instanceId = await h.cluster.leaseInstance(h.abort.signal);
    return h;
  }

  get id(): string {
    return this.o.hostId;
  }

  /** Calls this host answered (its page was told to), by telephonySessionId. */
  answered(): string[] {
    return this.page.sent.flatMap((c) => (c.type === "answer" ? [this.callOf(c.sipCallId)?.telephonySessionId ?? c.sipCallId] : []));
  }

  private callOf(sipCallId: string): Call | undefined {
    return this.calls.list().find((c) => c.sipCallId === sipCallId);
  }

  /** Whether any command that could end a call for every instance (a decline) was sent. */
  declined(): number {
    return this.page.types().filter((t) => t === "decline").length;
  }

  /** The caller hangs up, or RingCentral cancels this fork (another instance answered). */
  remoteEnd(call: Call): void {
    this.lifecycle.onEnded({ type: "ended", sipCallId: call.sipCallId, by: "remote" });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.answering.stop();
    this.abort.abort();
    await this.cluster.stop();
  }
}

/** RingCentral's side: an inbound call rings every registered instance; the first answer wins, the rest are cancelled. */
export class Line {
  constructor(private readonly hosts: ClusterTestHost[]) {
    for (const h of hosts)
      h.onAnswer = (call) => {
        for (const other of hosts) {
          if (other === h) continue;
          for (const c of other.calls.active()) if (call.telephonySessionId ? c.telephonySessionId === call.telephonySessionId : c.sipCallId === call.sipCallId) other.remoteEnd(c);
        }
      };
  }

  /** Rings one call on every host (in `order`, all at once); resolves once each host has decided. */
  ring(telephonySessionId: string | undefined, opts: { from?: string; sipCallId?: string; order?: ClusterTestHost[] } = {}): Promise<void> {
    const order = opts.order ?? this.hosts;
    return Promise.all(
      order.map((h) =>
        h.answering.onIncoming({
          type: "incoming",
          // Each fork is its own dialog, unless the test names one Call-ID for all (no telephonySessionId).
          sipCallId: opts.sipCallId ?? `${telephonySessionId}@${h.id}`,
          from: opts.from ?? "+15550001111",
          to: "+15550009999",
          autoAnswer: false,
          telephonySessionId,
          partyId: telephonySessionId && "p-1",
        }),
      ),
    ).then(() => {});
  }
}

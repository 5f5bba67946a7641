import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * Prometheus metrics (GET /metrics). Updated on call events, never per frame, so the relay's
 * event loop pays nothing for them.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly callsActive = new Gauge({ name: "rcvh_calls_active", help: "calls not yet ended", registers: [this.registry] });
  readonly registered = new Gauge({ name: "rcvh_sip_registered", help: "1 when the WebPhone is registered", registers: [this.registry] });
  readonly callsEnded = new Counter({ name: "rcvh_calls_ended_total", help: "calls ended, by direction and reason", labelNames: ["direction", "reason"], registers: [this.registry] });
  readonly callsAnswered = new Counter({ name: "rcvh_calls_answered_total", help: "calls answered, by direction", labelNames: ["direction"], registers: [this.registry] });
  readonly mediaConnectMs = new Histogram({
    name: "rcvh_media_connect_ms",
    help: "answer → ICE/DTLS connected",
    buckets: [50, 100, 200, 400, 800, 1600, 3200],
    registers: [this.registry],
  });
  readonly underruns = new Counter({ name: "rcvh_playout_underruns_total", help: "holes the caller heard inside agent audio (the page ran dry and resumed within 250 ms), counted by the page", registers: [this.registry] });
  readonly trimmed = new Counter({ name: "rcvh_playout_trimmed_seconds_total", help: "agent audio cut from standing backlogs (a queue fed at real time that never drains), added when a call ends", registers: [this.registry] });
  readonly uplinkGaps = new Counter({ name: "rcvh_uplink_gaps_total", help: "gaps in the caller's RTP the fast uplink (UPLINK=fast) filled with silence: lost packets, or later than one packet of hold-back", registers: [this.registry] });
  readonly pipelineBadMessages = new Counter({ name: "rcvh_pipeline_bad_messages_total", help: "pipeline messages ignored as malformed", registers: [this.registry] });
  readonly pipelineFailures = new Counter({ name: "rcvh_pipeline_failures_total", help: "pipeline failures: unreachable as a call arrived, or a stream dropped (closed, unresponsive, too-big)", labelNames: ["kind"], registers: [this.registry] });
  readonly pageRecoveries = new Counter({ name: "rcvh_page_recoveries_total", help: "Chrome or page lost and relaunched (counted when the relaunch starts)", registers: [this.registry] });
  readonly sipLost = new Counter({ name: "rcvh_sip_lost_total", help: "SIP registration lost while up (socket closed, re-REGISTER refused or unanswered)", registers: [this.registry] });
  readonly sipReconnects = new Counter({ name: "rcvh_sip_reconnects_total", help: "SIP reconnect attempts, by result (ok, failed, credentials, too-many-instances)", labelNames: ["result"], registers: [this.registry] });
  readonly webhookEvents = new Counter({ name: "rcvh_webhook_events_total", help: "telephony events received (replays excluded)", registers: [this.registry] });
  readonly restRetries = new Counter({ name: "rcvh_rest_retries_total", help: "RingCentral REST calls retried, by operation and reason (network, timeout, rate-limited, server-error)", labelNames: ["operation", "reason"], registers: [this.registry] });
  readonly clusterClaims = new Counter({ name: "rcvh_cluster_claims_total", help: "inbound calls this host tried to claim (REDIS_URL), by result: claimed, taken (another host has it), limit (CLUSTER_MAX_CONCURRENT_CALLS, ANSWER_MAX_PER_MINUTE), unavailable (Redis away, no lease)", labelNames: ["result"], registers: [this.registry] });
  /** Whether the host may claim calls (set by the host; always 1 without a cluster). */
  clusterReadiness: () => boolean = () => true;
  readonly clusterReady: Gauge = new Gauge({ name: "rcvh_cluster_ready", help: "1 while this host can claim calls: Redis reachable and an instance lease held (1 without REDIS_URL)", registers: [this.registry], collect: (): void => this.clusterReady.set(this.clusterReadiness() ? 1 : 0) });
  readonly draining = new Gauge({ name: "rcvh_draining", help: "1 while this host drains (SIGTERM or POST /admin/drain): it takes no new call, its calls in progress go on", registers: [this.registry] });
  readonly webhookSubscribed = new Gauge({ name: "rcvh_webhook_subscribed", help: "1 while the host holds a telephony webhook subscription (WEBHOOK_PUBLIC_URL set)", registers: [this.registry] });

  // Call quality (./call-quality.ts): one observation per call as it ends, by codec (bounded).
  readonly callJitterMs = new Histogram({ name: "rcvh_call_jitter_ms", help: "a call's mean receive jitter (WebRTC), observed as the call ends", labelNames: ["codec"], buckets: [1, 2, 5, 10, 20, 40, 80, 160], registers: [this.registry] });
  readonly callPacketLoss = new Histogram({ name: "rcvh_call_packet_loss_ratio", help: "a call's received packet loss, lost / (lost + received), observed as the call ends", labelNames: ["codec"], buckets: [0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2], registers: [this.registry] });
  readonly callRttMs = new Histogram({ name: "rcvh_call_rtt_ms", help: "a call's last round-trip time (RTCP, else ICE), observed as the call ends", labelNames: ["codec"], buckets: [5, 20, 50, 100, 200, 400, 800], registers: [this.registry] });
  readonly callJitterBufferMs = new Histogram({ name: "rcvh_call_jitter_buffer_ms", help: "a call's mean jitter-buffer delay (jitterBufferDelay / jitterBufferEmittedCount), observed as the call ends", labelNames: ["codec"], buckets: [10, 20, 40, 60, 100, 200, 400], registers: [this.registry] });
  // Call events out (EVENTS_URL).
  /** Set by the host: events in the spool, not yet delivered. */
  eventsBacklogOf: () => number = () => 0;
  readonly eventsBacklog: Gauge = new Gauge({ name: "rcvh_events_backlog", help: "call events spooled and not yet delivered to EVENTS_URL", registers: [this.registry], collect: (): void => this.eventsBacklog.set(this.eventsBacklogOf()) });
  readonly eventsDelivered = new Counter({ name: "rcvh_events_delivered_total", help: "call events the receiver accepted (2xx), by type", labelNames: ["type"], registers: [this.registry] });
  readonly eventsFailed = new Counter({ name: "rcvh_events_failed_total", help: "delivery attempts that failed and will be retried, by reason (network, timeout, http-5xx, http-408, http-429, http-3xx)", labelNames: ["reason"], registers: [this.registry] });
  readonly eventsDropped = new Counter({ name: "rcvh_events_dropped_total", help: "call events given up, by reason: refused (the receiver's 4xx), spool-full (the oldest, past EVENTS_SPOOL_MAX_*), spool-write (the disk refused it)", labelNames: ["reason"], registers: [this.registry] });
  readonly eventsSpoolWriteMs = new Histogram({ name: "rcvh_events_spool_write_ms", help: "appending one event to the spool (write, fdatasync, close)", buckets: [0.5, 1, 2, 5, 10, 20, 50, 100], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "rcvh_" });
  }
}

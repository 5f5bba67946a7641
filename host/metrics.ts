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
  readonly pipelineBadMessages = new Counter({ name: "rcvh_pipeline_bad_messages_total", help: "pipeline messages ignored as malformed", registers: [this.registry] });
  readonly pipelineFailures = new Counter({ name: "rcvh_pipeline_failures_total", help: "pipeline failures: unreachable as a call arrived, or a stream dropped (closed, unresponsive, too-big)", labelNames: ["kind"], registers: [this.registry] });
  readonly pageRecoveries = new Counter({ name: "rcvh_page_recoveries_total", help: "Chrome or page lost and relaunched (counted when the relaunch starts)", registers: [this.registry] });
  readonly sipLost = new Counter({ name: "rcvh_sip_lost_total", help: "SIP registration lost while up (socket closed, re-REGISTER refused or unanswered)", registers: [this.registry] });
  readonly sipReconnects = new Counter({ name: "rcvh_sip_reconnects_total", help: "SIP reconnect attempts, by result (ok, failed, credentials, too-many-instances)", labelNames: ["result"], registers: [this.registry] });
  readonly webhookEvents = new Counter({ name: "rcvh_webhook_events_total", help: "telephony events received (replays excluded)", registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "rcvh_" });
  }
}

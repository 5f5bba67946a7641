import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { CallRecorder, type OpenRecordingFile } from "../bridge/call-recorder.ts";
import type { PageCommands, PageEventOf } from "../bridge/page-link.ts";
import { addQualitySample, observeCallQuality } from "./call-quality.ts";
import { MAX_TRANSCRIPT_LINES } from "../bridge/stream.ts";
import type { CallRegistry, Call } from "./calls.ts";
import { NO_EVENTS, callData, endedData, qualitySummary, type EventSink } from "./events.ts";
import type { Metrics } from "./metrics.ts";

export interface LifecycleDeps {
  calls: CallRegistry;
  page: PageCommands;
  metrics: Metrics;
  log: Logger;
  /** The page's (and the recordings') sample rate. */
  sampleRate: number;
  /** Absent: calls are not recorded. */
  recordingsDir?: string;
  /** How a recording's file is opened (tests give it a disk that fills up). */
  openRecording?: OpenRecordingFile;
  /** Call events out (EVENTS_URL); none when absent. */
  events?: EventSink;
}

/**
 * A call from answered to ended: the page's answered / media / ended events, hang-up, the end
 * (reason, metrics, log line), and the recording, which outlives the stream and is never lost.
 */
export class CallLifecycle {
  /** Recordings still being written: shutdown waits for them. */
  private readonly pendingWrites = new Set<Promise<void>>();

  /** Where call events go: the lifecycle's own, and those of transfers and AMD (./call-control.ts, ./outbound.ts). */
  readonly events: EventSink;

  constructor(private readonly d: LifecycleDeps) {
    this.events = d.events ?? NO_EVENTS;
    // The registry is the one home of a call's state: ringing, answered and ended are announced from its changes.
    const announced = new Map<string, string>();
    d.calls.onChange((call) => {
      const was = announced.get(call.id);
      if (call.state === was) return;
      if (call.state === "ended") {
        announced.delete(call.id);
        this.events.emit("call.ended", endedData(call));
        return;
      }
      announced.set(call.id, call.state);
      if (call.state === "ringing" && was === undefined) this.events.emit("call.ringing", { ...callData(call), fromName: call.fromName ?? null });
      if (call.state === "answered") this.events.emit("call.answered", { ...callData(call), codec: call.codec ?? null });
    });
  }

  /** A quality sample from the page (every 2 s while answered). */
  onQuality(e: PageEventOf<"quality">): void {
    const call = this.d.calls.bySipCallId(e.sipCallId);
    if (!call || call.state !== "answered") return;
    call.quality = addQualitySample(call.quality, e);
  }

  onAnswered(e: PageEventOf<"answered">): void {
    const call = this.d.calls.bySipCallId(e.sipCallId);
    if (!call) return;
    call.state = "answered";
    call.answeredAtMs = Date.now();
    call.codec = e.codec;
    call.telephonySessionId ??= e.telephonySessionId;
    call.partyId ??= e.partyId;
    this.d.calls.changed(call);
    this.d.log.info({ call: call.id, codec: e.codec, telephonySessionId: call.telephonySessionId }, "call: answered");
    this.d.metrics.callsAnswered.inc({ direction: call.direction });
    this.d.metrics.callsActive.set(this.d.calls.active().length);
    void this.startRecording(call);
  }

  onMediaConnected(e: PageEventOf<"mediaConnected">): void {
    const call = this.d.calls.bySipCallId(e.sipCallId);
    if (!call) return;
    call.mediaConnectedAtMs = Date.now();
    call.stream?.mediaConnected();
    const afterAnswerMs = call.answeredAtMs ? call.mediaConnectedAtMs - call.answeredAtMs : undefined;
    if (afterAnswerMs !== undefined) this.d.metrics.mediaConnectMs.observe(afterAnswerMs);
    this.d.log.info({ call: call.id, afterAnswerMs: afterAnswerMs ?? null }, "call: media connected");
  }

  onEnded(e: PageEventOf<"ended">): void {
    const call = this.d.calls.bySipCallId(e.sipCallId);
    if (call) this.finish(call, e.reason ?? (e.by === "local" ? "host-hangup" : e.by === "failed" ? "failed" : "remote-hangup"));
  }

  /** Asks the page to hang up; the page's `ended` finishes the call (or this does, if the page cannot). */
  async hangup(callId: string, reason = "host-hangup"): Promise<void> {
    const call = this.d.calls.get(callId);
    if (!call || call.state === "ended") return;
    this.d.log.info({ call: call.id, reason }, "call: hanging up");
    call.endReason ??= reason;
    try {
      await this.d.page.request({ type: "hangup", sipCallId: call.sipCallId }, 5000);
    } catch (err) {
      this.d.log.warn({ call: call.id, err: (err as Error).message }, "call: hangup not confirmed by the page");
      this.finish(call, reason);
    }
  }

  /** Ends the call here: stream closed, recording kept, slot freed, counted and logged once. */
  finish(call: Call, reason: string): void {
    // A reason the host set on purpose (transfer, refusal, pipeline gone) outlives how the page saw the end.
    const why = call.endReason ?? reason;
    this.detachStream(call, why);
    if (!this.d.calls.end(call, why)) return;
    const m = this.d.metrics;
    m.callsEnded.inc({ direction: call.direction, reason: why.replace(/:.*$/, "") });
    m.callsActive.set(this.d.calls.active().length);
    observeCallQuality(m, call.quality);
    this.d.log.info({ call: call.id, reason: why, quality: call.quality ?? null, durationMs: call.answeredAtMs ? Date.now() - call.answeredAtMs : 0, stream: call.streamStats }, "call: ended");
  }

  /** Every call still up ends with `reason` (their media is gone, or the host is stopping). */
  finishAll(reason: string): void {
    for (const call of this.d.calls.active()) this.finish(call, reason);
  }

  /**
   * Closes the call's pipeline stream, keeping its counters and its recording (saved in the
   * background; shutdown waits). The call itself goes on: a transfer, or the end just after.
   */
  detachStream(call: Call, why: string): void {
    const stream = call.stream;
    if (!stream) return;
    call.streamStats = stream.stats;
    if (stream.transcript.length) call.transcript = [...(call.transcript ?? []), ...stream.transcript].slice(-MAX_TRANSCRIPT_LINES);
    call.stream = undefined;
    const saved = stream.close(why).then(async (rec) => {
      if (!rec) return;
      const metadataPath = await this.writeMetadata(call, rec.path);
      call.recording = { ...rec, ...(metadataPath && { metadataPath }) };
      if (rec.failed) this.d.log.error({ call: call.id, ...rec }, "recording: saved up to a write failure");
      else this.d.log.info({ call: call.id, path: rec.path, durationMs: rec.durationMs }, "recording: saved");
      this.events.emit("recording.saved", { ...callData(call), ...call.recording });
    });
    // Each stream's counters once, as it closes (a failed transfer gives a call a second stream).
    const m = this.d.metrics;
    m.underruns.inc(stream.stats.underruns);
    m.trimmed.inc(stream.stats.trimmedMs / 1000);
    m.uplinkGaps.inc(stream.stats.uplink.gaps);
    m.pipelineBadMessages.inc(stream.stats.badMessages);
    for (const [kind, n] of Object.entries(stream.stats.drops)) if (n) m.pipelineFailures.inc({ kind }, n);
    this.pendingWrites.add(saved);
    void saved.finally(() => this.pendingWrites.delete(saved));
  }

  /** Resolves once every recording still being written is on disk. */
  async flush(): Promise<void> {
    await Promise.all(this.pendingWrites);
  }

  /**
   * The recording's metadata beside it (`<name>.wav.json`): who, when, why it ended, how it
   * sounded. Written once the WAV is closed; a failure is logged, the recording stays.
   */
  private async writeMetadata(call: Call, wavPath: string): Promise<string | undefined> {
    const path = `${wavPath}.json`;
    const meta = {
      ...callData(call),
      codec: call.codec ?? null,
      answeredAt: call.answeredAtMs ? new Date(call.answeredAtMs).toISOString() : null,
      endedAt: call.endedAtMs ? new Date(call.endedAtMs).toISOString() : null,
      endReason: call.endReason ?? null,
      quality: qualitySummary(call.quality),
    };
    try {
      await writeFile(path, `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o640, flag: "wx" });
      return path;
    } catch (err) {
      this.d.log.error({ call: call.id, path, err: (err as Error).message }, "recording: could not write its metadata");
      return undefined;
    }
  }

  /** Starts recording both sides of an answered call when RECORDINGS_DIR is set. */
  private async startRecording(call: Call): Promise<void> {
    const dir = this.d.recordingsDir;
    if (!dir || !call.stream) return;
    try {
      await mkdir(dir, { recursive: true });
      const stamp = new Date(call.createdAtMs).toISOString().replace(/[:.]/g, "-");
      const name = `${stamp}_${(call.telephonySessionId ?? call.id).replace(/[^\w.-]/g, "_")}.wav`;
      const recorder = await CallRecorder.create(join(dir, name), this.d.sampleRate, this.d.log.child({ call: call.id }), this.d.openRecording);
      if (call.stream) call.stream.record(recorder);
      else await recorder.close();
    } catch (err) {
      this.d.log.error({ call: call.id, err: (err as Error).message }, "recording: could not start; the call goes on unrecorded");
    }
  }
}

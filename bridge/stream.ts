import type { Logger } from "pino";
import type { CallRecorder, Recording } from "./call-recorder.ts";
import { DtmfDetector } from "./dtmf-detector.ts";
import { LevelMeter, SILENCE_DBFS } from "./level.ts";
import { MediaKind } from "./page-frames.ts";
import type { UplinkMode } from "./page-protocol.ts";
import type { PageLink } from "./page-link.ts";
import { Playout } from "./playout.ts";
import type { PlayoutProbeView, SessionProbeView } from "./probe.ts";
import { createPipelineSession, type DropKind, type PipelineCallAction, type PipelineDrop, type PipelineProfile, type PipelineSession, type StreamInfo } from "./pipeline/index.ts";

export interface StreamOptions {
  profile: PipelineProfile;
  url: string;
  connectTimeoutMs: number;
  playoutLeadMs: number;
  maxQueueMs: number;
  /** On a mid-call drop: dial again and send a fresh start, instead of ending the call. */
  reconnect: boolean;
  /** fast: the pipeline (and the AMD tap) take the page's fast uplink frames once they come; DTMF detection and the recording keep the worklet's. */
  uplink?: UplinkMode;
  /** Heartbeat overrides (bridge/pipeline/socket.ts has the defaults); tests shorten them. */
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
}

export interface StreamStats {
  callerFrames: number;
  agentSamples: number;
  playedSamples: number;
  marksPlayed: number;
  underruns: number;
  /** Agent audio cut from standing backlogs (bridge/playout-trim.ts), in ms. */
  trimmedMs: number;
  /** The call's playout lead: PLAYOUT_LEAD_MS, raised a frame per hole the host caused. */
  leadMs: number;
  badMessages: number;
  dtmfIn: string;
  reconnects: number;
  /** Caller frames not sent because the pipeline read too slowly (SEND_BACKLOG_MS). */
  droppedCallerFrames: number;
  /** Pipeline `dtmf` messages not sent to the caller: MAX_DTMF_IN_FLIGHT were still waiting on the page. */
  droppedDtmf: number;
  /** How the pipeline's connections ended when the host did not close them. */
  drops: Record<DropKind, number>;
  /** Live levels (dBFS, SILENCE_DBFS at silence): the caller's frames, and the agent audio the page played in each. */
  callerLevelDbfs: number;
  agentLevelDbfs: number;
  /** Agent audio queued here and in the page (ms): the delay playout adds at this moment. */
  playoutBufferMs: number;
  /** The pipeline connection's round trip (WebSocket ping, ms), null until the first pong. */
  pipelineRttMs: number | null;
  /**
   * UPLINK=fast: frames the fast uplink sent, gaps in the caller's RTP it filled with silence and
   * how much silence, and the worklet frames that carried the pipeline while no RTP came (`bridgedFrames`).
   */
  uplink: { mode: UplinkMode; fastFrames: number; gaps: number; gapMs: number; bridgedFrames: number };
}

export interface StreamEvents {
  /** The pipeline went away or asked to hang up: the host ends the call. */
  onEnd(reason: string): void;
  /** The pipeline asks to send digits to the caller; settles once the page took them (or failed to). */
  onSendDtmf(digits: string): Promise<void>;
  /** Call control a pipeline asks for as a tool: done by the host as the REST API does it. */
  onCallAction?(action: PipelineCallAction): Promise<void>;
}

/** One finished line of the conversation (openai-realtime's transcripts). */
export interface TranscriptLine {
  role: "caller" | "agent";
  text: string;
  atMs: number;
}

/** Lines kept per stream, and characters per line: a call's record stays small however long it runs. */
export const MAX_TRANSCRIPT_LINES = 200;
export const MAX_TRANSCRIPT_CHARS = 2000;

const MAX_RECONNECTS = 3;
const DROP_LOG: Record<DropKind, string> = {
  closed: "pipeline closed the stream mid-call",
  unresponsive: "pipeline unresponsive: no pong or message within the timeout, connection cut",
  "too-big": "pipeline sent a message over the size bound: closed with 1009",
};
/**
 * UPLINK=fast: this many worklet frames (100 ms) without a fast frame is a stall, not jitter (the
 * lane holds a packet back 30 ms at most): the worklet's frames carry the pipeline until RTP is back.
 */
const FAST_STALL_FRAMES = 5;

/** Marks waiting for their audio to play; beyond this a pipeline is marking faster than it speaks. */
export const MAX_PENDING_MARKS = 10_000;
export const MAX_MARK_NAME_CHARS = 256;
/**
 * Pipeline DTMF sends waiting for the page's result, per call. The page takes digits in a few ms
 * (insertDTMF queues them), so a handful in flight is already a pipeline sending faster than that,
 * or a page that stopped answering; each waits up to the page's request timeout with a timer.
 */
export const MAX_DTMF_IN_FLIGHT = 8;
/** The end reason of each kind of drop (with PIPELINE_DROP_ACTION=hangup, or reconnects used up). */
const DROP_REASONS: Record<DropKind, string> = { closed: "pipeline-closed", unresponsive: "pipeline-unresponsive", "too-big": "pipeline-message-too-big" };
/** Measured on the twin: playout reaches the caller's RTP 33–40 ms after the worklet played it. */
const SEND_PATH_MS = 60;

/**
 * One call's stream: caller frames from the page slot to the pipeline (with in-band DTMF
 * detection on the way), pipeline audio through playout back into the slot. Owns the pipeline
 * connection and the playout queue; the host owns the call.
 */
export class CallStream {
  private session: PipelineSession | undefined;
  private readonly playout: Playout;
  private readonly dtmf: DtmfDetector;
  private closed = false;
  private hangingUp = false;
  private overflows = 0;
  private dtmfInFlight = 0;
  private markClose!: () => void;
  /** Settles when the stream closes (the call ended, or a transfer): what waits on the stream stops then. */
  readonly whenClosed = new Promise<void>((resolve) => (this.markClose = resolve));
  private info: StreamInfo | undefined;
  private readonly announcements: Array<{ mark: string; resolve(): void }> = [];
  /** The conversation so far, bounded (the oldest lines go first). */
  readonly transcript: TranscriptLine[] = [];
  readonly stats: StreamStats = { callerFrames: 0, agentSamples: 0, playedSamples: 0, marksPlayed: 0, underruns: 0, trimmedMs: 0, leadMs: 0, badMessages: 0, dtmfIn: "", reconnects: 0, droppedCallerFrames: 0, droppedDtmf: 0, drops: { closed: 0, unresponsive: 0, "too-big": 0 }, callerLevelDbfs: SILENCE_DBFS, agentLevelDbfs: SILENCE_DBFS, playoutBufferMs: 0, pipelineRttMs: null, uplink: { mode: "buffered", fastFrames: 0, gaps: 0, gapMs: 0, bridgedFrames: 0 } };
  private readonly callerLevel = new LevelMeter();
  private readonly agentLevel = new LevelMeter();
  /** The agent samples played during one caller frame, for the meter (a clear's jump is capped). */
  private readonly playedScratch: Int16Array;
  /** Fast uplink frames arrived: the pipeline takes those, no longer the worklet's (until then the worklet's carry silence). */
  private fastFlowing = false;
  /** Worklet frames (20 ms each, on Chrome's render clock) since the last fast frame. */
  private sinceFast = 0;
  /** Worklet frames that carried the pipeline in a stall, whose span the fast uplink will fill again. */
  private bridged = 0;
  /** Silence the fast uplink announced (its header's gapSamples) but has not sent yet, in samples. */
  private fillAhead = 0;
  private gapSamplesSeen = 0;
  /** What the stall the worklet bridged was, told by the first fast frame after it. */
  private bridgeAfter: "rtp" | "worker" | undefined;

  constructor(
    private readonly link: PageLink,
    readonly slot: number,
    private readonly opts: StreamOptions,
    private readonly events: StreamEvents,
    private readonly log: Logger,
  ) {
    const sampleRate = opts.profile.sampleRate;
    this.playout = new Playout(
      {
        sendAgent: (pcm) => this.link.sendAgent(this.slot, pcm),
        clear: () => this.link.sendSlotCommand(this.slot, MediaKind.Clear),
      },
      { sampleRate, leadMs: opts.playoutLeadMs, maxQueueMs: opts.maxQueueMs, sendPathMs: SEND_PATH_MS },
      {
        onMark: (name) => this.onMarkPlayed(name),
        onOverflow: (dropped) => {
          // Once, then every hundredth time: a flooding pipeline must not flood the log too.
          if (this.overflows++ % 100 === 0) this.log.error({ droppedSamples: dropped, times: this.overflows, maxQueueMs: opts.maxQueueMs }, "pipeline floods playout: audio beyond the queue bound refused");
        },
        onLeadRaised: (leadMs) => this.log.info({ leadMs }, "playout: the page ran dry with audio waiting here; lead raised"),
      },
    );
    this.dtmf = new DtmfDetector(sampleRate, (digit) => {
      this.stats.dtmfIn += digit;
      this.log.info({ digit }, "dtmf: caller pressed a key");
      this.session?.sendDtmf(digit);
    });
    this.stats.leadMs = this.playout.leadMs;
    this.agentFrame = new Int16Array(sampleRate / 50);
    this.playedScratch = new Int16Array((sampleRate / 50) * 3);
    this.link.onCallerFrames(this.slot, (header, pcm) => {
      if (this.closed) return;
      this.stats.callerFrames++;
      // DTMF is heard in Chrome's rendering in both modes: the fast uplink makes a telephone-event span silence.
      this.dtmf.push(pcm);
      if (!this.fastFlowing) this.toPipeline(pcm);
      else if (++this.sinceFast > FAST_STALL_FRAMES) {
        // No RTP for a while (a hold, an outage): the pipeline keeps hearing the call in real time.
        this.bridged++;
        this.stats.uplink.bridgedFrames++;
        this.toPipeline(pcm);
      }
      const before = this.playout.playedSamples;
      this.playout.onCallerFrame(header);
      if (this.recorder) this.recordFrame(pcm, before, this.playout.playedSamples);
      this.meter(pcm, before);
    });
    if (opts.uplink === "fast") this.listenFast(sampleRate);
  }

  /** The caller's audio on its way to the pipeline: the tap (AMD), then the pipeline. */
  private toPipeline(pcm: Int16Array): void {
    this.tap?.(pcm);
    if (this.session && !this.session.sendCallerAudio(pcm)) this.onCallerFrameDropped();
  }

  private listenFast(sampleRate: number): void {
    const up = this.stats.uplink;
    up.mode = "fast";
    this.link.onFastFrames(this.slot, (header, pcm) => {
      if (this.closed) return;
      this.fastFlowing = true;
      this.sinceFast = 0;
      up.fastFrames++;
      up.gaps = header.gaps;
      up.gapMs = Math.round((header.gapSamples * 1000) / sampleRate);
      // A frame announces the silence it and the next frames fill (the lane fills a hole when RTP
      // is back). What the worklet's frames bridged must not reach the pipeline twice: after an
      // RTP stall that is the fill (capped at 2 s, so never more); after a stall of the page's
      // uplink worker (RTP flowed, no fill) it is the late audio itself.
      const announced = (header.gapSamples - this.gapSamplesSeen) >>> 0;
      this.gapSamplesSeen = header.gapSamples;
      this.fillAhead += announced;
      const fill = Math.min(this.fillAhead, pcm.length);
      this.fillAhead -= fill;
      if (this.bridged > 0) {
        this.bridgeAfter ??= announced > 0 ? "rtp" : "worker";
        if (this.bridgeAfter === "worker" || fill === pcm.length) return void this.bridged--;
        this.bridged = 0;
      }
      this.bridgeAfter = undefined;
      this.toPipeline(pcm);
    });
  }

  /** The objects a MediaProbe (./probe.ts) is handed for this call, read-only: how it tells calls apart. */
  get probeTargets(): { playout: PlayoutProbeView; session: SessionProbeView | undefined } {
    return { playout: this.playout, session: this.session };
  }

  /** Sees the caller's frames before any pipeline does (answering-machine detection). */
  tap: ((pcm: Int16Array) => void) | undefined;

  private readonly agentFrame: Int16Array;
  private recorder: CallRecorder | undefined;
  /** Agent samples played but not yet written: the page plays in 128-sample quanta, we write 20 ms frames. */
  private readonly agentBacklog = new Int16Array(4096);
  private backlog = 0;

  /**
   * Writes one stereo frame. The agent side is what the page consumed since the last frame,
   * re-framed through a small backlog (at most one frame late). A jump of more than a few frames
   * is a clear: only the first frame of it is taken as heard (≤ 20 ms of error at a barge-in).
   */
  private recordFrame(caller: Int16Array, from: number, to: number): void {
    const frame = this.agentFrame.length;
    let played = to - from;
    if (played > 3 * frame) played = frame;
    played = Math.min(played, this.agentBacklog.length - this.backlog);
    if (played > 0) this.playout.readSent(from, played, this.agentBacklog, this.backlog);
    this.backlog += played;
    // Wait for a whole frame while audio is flowing; when it stops, flush what is left.
    const take = this.backlog >= frame ? frame : played === 0 ? this.backlog : 0;
    this.agentFrame.set(this.agentBacklog.subarray(0, take));
    this.agentFrame.fill(0, take);
    this.agentBacklog.copyWithin(0, take, this.backlog);
    this.backlog -= take;
    this.recorder!.write(caller, this.agentFrame);
  }

  /** Updates the live levels once per caller frame: the page's clock, so the agent's meter falls in silence too. */
  private meter(caller: Int16Array, playedFrom: number): void {
    this.callerLevel.push(caller);
    const played = Math.min(this.playout.playedSamples - playedFrom, this.playedScratch.length);
    if (played > 0) this.playout.readSent(playedFrom, played, this.playedScratch);
    this.agentLevel.push(this.playedScratch, Math.max(0, played));
    this.stats.callerLevelDbfs = this.callerLevel.dbfs;
    this.stats.agentLevelDbfs = this.agentLevel.dbfs;
    this.stats.playoutBufferMs = Math.round(this.playout.bufferedMs);
    this.stats.underruns = this.playout.underruns;
    this.stats.pipelineRttMs = this.session?.rttMs ?? this.stats.pipelineRttMs;
  }

  /** Records both sides from now on (RECORDINGS_DIR); a stream already closed closes the recorder at once. */
  record(recorder: CallRecorder): void {
    if (this.closed) void recorder.close();
    else this.recorder = recorder;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Dials the pipeline and sends its start; rejects when it cannot be reached in time, or when the
   * stream was closed before or during the dial (then nothing was started: check isClosed).
   */
  async open(info: StreamInfo): Promise<void> {
    if (this.closed) throw new Error("the stream is closed");
    this.info = info;
    const session = this.connect();
    await session.open(info);
  }

  private connect(): PipelineSession {
    const { url, connectTimeoutMs, pingIntervalMs, pongTimeoutMs } = this.opts;
    const session: PipelineSession = createPipelineSession(this.opts.profile, { url, connectTimeoutMs, pingIntervalMs, pongTimeoutMs }, {
      // Events from a session that was replaced (after a reconnect) are stale: ignore them.
      onAudio: (pcm) => {
        if (this.session !== session) return;
        this.stats.agentSamples += pcm.length;
        this.playout.push(pcm);
      },
      onMark: (name) => {
        if (this.session !== session) return;
        // Bounded: a mark is kept until its audio plays, so a runaway pipeline must not grow the list without end.
        if (name.length > MAX_MARK_NAME_CHARS) return this.onBadMessage(`mark name over ${MAX_MARK_NAME_CHARS} characters`);
        if (this.playout.pendingMarks >= MAX_PENDING_MARKS) return this.onBadMessage(`over ${MAX_PENDING_MARKS} marks pending`);
        this.playout.mark(name);
      },
      onClear: () => {
        if (this.session !== session) return;
        // As Twilio does: the marks that will now never play are sent back at once.
        for (const name of this.playout.clear()) session.sendMarkPlayed(name);
      },
      onSendDtmf: (digits) => {
        if (this.session === session) this.sendDtmf(digits);
      },
      onHangup: () => {
        if (this.session !== session) return;
        // The close that usually follows a hangup is not a drop: never reconnect after it.
        this.hangingUp = true;
        this.events.onEnd("pipeline-hangup");
      },
      onDropped: (drop) => {
        if (this.session !== session || this.closed || this.hangingUp) return;
        this.stats.drops[drop.kind]++;
        this.log.warn({ kind: drop.kind, code: drop.code, reason: drop.reason }, DROP_LOG[drop.kind]);
        void this.onDropped(drop);
      },
      onBadMessage: (problem) => this.onBadMessage(problem),
      playout: this.playout,
      onCallAction: (action) => {
        if (this.session !== session || this.closed) return Promise.reject(new Error("the stream has ended"));
        // As with the pipeline's hangup message: the close that follows is no drop.
        if (action.kind === "hangup") this.hangingUp = true;
        return this.events.onCallAction?.(action) ?? Promise.reject(new Error("call control is not available on this stream"));
      },
      onTranscript: (role, text) => {
        if (this.session !== session) return;
        const line = { role, text: text.slice(0, MAX_TRANSCRIPT_CHARS), atMs: Date.now() };
        this.transcript.push(line);
        if (this.transcript.length > MAX_TRANSCRIPT_LINES) this.transcript.shift();
        this.log.info({ role, text: line.text }, "transcript");
      },
      onNote: (fields, msg) => {
        if (this.session === session) this.log.info(fields, msg);
      },
    });
    this.session = session;
    return session;
  }

  private onBadMessage(problem: string): void {
    this.stats.badMessages++;
    if (this.stats.badMessages <= 5 || this.stats.badMessages % 100 === 0) this.log.warn({ problem, count: this.stats.badMessages }, "pipeline message ignored");
  }

  private sendDtmf(digits: string): void {
    if (this.closed) return;
    if (this.dtmfInFlight >= MAX_DTMF_IN_FLIGHT) {
      // Once, then every hundredth: a flooding pipeline must not flood the log too.
      if (this.stats.droppedDtmf++ % 100 === 0) this.log.warn({ dropped: this.stats.droppedDtmf, inFlight: this.dtmfInFlight }, "pipeline sends DTMF faster than the page takes it: digits dropped");
      return;
    }
    this.dtmfInFlight++;
    const done = () => void this.dtmfInFlight--;
    this.events.onSendDtmf(digits).then(done, done);
  }

  private onCallerFrameDropped(): void {
    // Once, then every hundredth: a stalled pipeline must not flood the log too.
    if (this.stats.droppedCallerFrames++ % 100 === 0) this.log.warn({ dropped: this.stats.droppedCallerFrames }, "pipeline reads too slowly: caller audio dropped");
  }

  private async onDropped(drop: PipelineDrop): Promise<void> {
    if (this.opts.reconnect && this.session?.resumable === false) {
      this.log.warn({ protocol: this.opts.profile.protocol }, "pipeline dropped: its conversation cannot be picked up on a new connection, so the call ends (no reconnect)");
      this.events.onEnd(DROP_REASONS[drop.kind]);
      return;
    }
    if (!this.opts.reconnect || this.stats.reconnects >= MAX_RECONNECTS || !this.info) {
      this.events.onEnd(DROP_REASONS[drop.kind]);
      return;
    }
    this.stats.reconnects++;
    // What the old stream queued is for a conversation that no longer exists.
    this.playout.clear();
    try {
      const session = this.connect();
      await session.open(this.info);
      // close() closes the session it finds, mid-dial too, so a call that ended meanwhile left nothing open.
      if (this.closed) return;
      this.log.info({ attempt: this.stats.reconnects }, "pipeline reconnected: fresh start sent");
    } catch (err) {
      if (this.closed) return;
      this.log.error({ err: (err as Error).message }, "pipeline reconnect failed");
      this.events.onEnd(DROP_REASONS[drop.kind]);
    }
  }

  /** ICE/DTLS are up: audio sent from now on reaches the caller. */
  mediaConnected(): void {
    this.playout.start();
  }

  /** Plays audio the host owns (e.g. the pipeline-down apology); resolves once it has been played. */
  announce(pcm: Int16Array): Promise<void> {
    if (this.closed) return Promise.resolve();
    const mark = `announcement-${this.announcements.length + 1}`;
    this.playout.push(pcm);
    return new Promise((resolve) => {
      this.announcements.push({ mark, resolve });
      this.playout.mark(mark);
    });
  }

  private onMarkPlayed(name: string): void {
    const a = this.announcements.findIndex((x) => x.mark === name);
    if (a >= 0) return this.announcements.splice(a, 1)[0].resolve();
    this.stats.marksPlayed++;
    this.session?.sendMarkPlayed(name);
  }

  /** Ends the stream; resolves with the recording once it is safely on disk. */
  close(reason: string): Promise<Recording | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    this.closed = true;
    this.markClose();
    this.link.onCallerFrames(this.slot, undefined);
    this.link.onFastFrames(this.slot, undefined);
    this.stats.playedSamples = this.playout.playedSamples;
    this.stats.underruns = this.playout.underruns;
    this.stats.trimmedMs = Math.round(this.playout.trimmedMs);
    this.stats.leadMs = this.playout.leadMs;
    // An ended call has no level: its kept stats must not show the last frame's as live.
    this.stats.callerLevelDbfs = this.stats.agentLevelDbfs = SILENCE_DBFS;
    this.stats.playoutBufferMs = 0;
    this.playout.close();
    for (const a of this.announcements.splice(0)) a.resolve();
    this.session?.close(reason);
    return this.recorder ? this.recorder.close() : Promise.resolve(undefined);
  }
}

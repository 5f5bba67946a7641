import type { Logger } from "pino";
import type { CallRecorder } from "./call-recorder.ts";
import { DtmfDetector } from "./dtmf-detector.ts";
import { MediaKind } from "./page-frames.ts";
import type { PageLink } from "./page-link.ts";
import { Playout } from "./playout.ts";
import type { PlayoutProbeView, SessionProbeView } from "./probe.ts";
import { createPipelineSession, type PipelineProfile, type PipelineSession, type StreamInfo } from "./pipeline/index.ts";

export interface StreamOptions {
  profile: PipelineProfile;
  url: string;
  connectTimeoutMs: number;
  playoutLeadMs: number;
  maxQueueMs: number;
  /** On a mid-call drop: dial again and send a fresh start, instead of ending the call. */
  reconnect: boolean;
}

export interface StreamStats {
  callerFrames: number;
  agentSamples: number;
  playedSamples: number;
  marksPlayed: number;
  underruns: number;
  badMessages: number;
  dtmfIn: string;
  reconnects: number;
}

export interface StreamEvents {
  /** The pipeline went away or asked to hang up: the host ends the call. */
  onEnd(reason: string): void;
  /** The pipeline asks to send digits to the caller. */
  onSendDtmf(digits: string): void;
}

const MAX_RECONNECTS = 3;
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
  private info: StreamInfo | undefined;
  private readonly announcements: Array<{ mark: string; resolve(): void }> = [];
  readonly stats: StreamStats = { callerFrames: 0, agentSamples: 0, playedSamples: 0, marksPlayed: 0, underruns: 0, badMessages: 0, dtmfIn: "", reconnects: 0 };

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
      },
    );
    this.dtmf = new DtmfDetector(sampleRate, (digit) => {
      this.stats.dtmfIn += digit;
      this.log.info({ digit }, "dtmf: caller pressed a key");
      this.session?.sendDtmf(digit);
    });
    this.agentFrame = new Int16Array(sampleRate / 50);
    this.link.onCallerFrames(this.slot, (header, pcm) => {
      if (this.closed) return;
      this.stats.callerFrames++;
      this.dtmf.push(pcm);
      this.tap?.(pcm);
      this.session?.sendCallerAudio(pcm);
      const before = this.playout.playedSamples;
      this.playout.onCallerFrame(header);
      if (this.recorder) this.recordFrame(pcm, before, this.playout.playedSamples);
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

  /** Records both sides from now on (RECORDINGS_DIR). */
  record(recorder: CallRecorder): void {
    this.recorder = recorder;
  }

  /** Dials the pipeline and sends its start; rejects when it cannot be reached in time. */
  async open(info: StreamInfo): Promise<void> {
    this.info = info;
    const session = this.connect();
    await session.open(info);
  }

  private connect(): PipelineSession {
    const session: PipelineSession = createPipelineSession(this.opts.profile, { url: this.opts.url, connectTimeoutMs: this.opts.connectTimeoutMs }, {
      // Events from a session that was replaced (after a reconnect) are stale: ignore them.
      onAudio: (pcm) => {
        if (this.session !== session) return;
        this.stats.agentSamples += pcm.length;
        this.playout.push(pcm);
      },
      onMark: (name) => this.session === session && this.playout.mark(name),
      onClear: () => {
        if (this.session !== session) return;
        // As Twilio does: the marks that will now never play are sent back at once.
        for (const name of this.playout.clear()) session.sendMarkPlayed(name);
      },
      onSendDtmf: (digits) => this.session === session && this.events.onSendDtmf(digits),
      onHangup: () => {
        if (this.session !== session) return;
        // The close that usually follows a hangup is not a drop: never reconnect after it.
        this.hangingUp = true;
        this.events.onEnd("pipeline-hangup");
      },
      onClosed: (code, reason) => {
        if (this.session !== session || this.closed || this.hangingUp) return;
        this.log.warn({ code, reason }, "pipeline closed the stream mid-call");
        void this.onDropped();
      },
      onBadMessage: (problem) => {
        this.stats.badMessages++;
        if (this.stats.badMessages <= 5 || this.stats.badMessages % 100 === 0) this.log.warn({ problem, count: this.stats.badMessages }, "pipeline message ignored");
      },
    });
    this.session = session;
    return session;
  }

  private async onDropped(): Promise<void> {
    if (!this.opts.reconnect || this.stats.reconnects >= MAX_RECONNECTS || !this.info) {
      this.events.onEnd("pipeline-closed");
      return;
    }
    this.stats.reconnects++;
    // What the old stream queued is for a conversation that no longer exists.
    this.playout.clear();
    try {
      const session = this.connect();
      await session.open(this.info);
      // The call may have ended while we dialled: then this stream is already closed.
      if (this.closed) return session.close("call ended");
      this.log.info({ attempt: this.stats.reconnects }, "pipeline reconnected: fresh start sent");
    } catch (err) {
      this.log.error({ err: (err as Error).message }, "pipeline reconnect failed");
      this.events.onEnd("pipeline-closed");
    }
  }

  /** ICE/DTLS are up: audio sent from now on reaches the caller. */
  mediaConnected(): void {
    this.playout.start();
  }

  /** Plays audio the host owns (e.g. the pipeline-down apology); resolves once it has been played. */
  announce(pcm: Int16Array): Promise<void> {
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
  close(reason: string): Promise<{ path: string; durationMs: number } | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    this.closed = true;
    this.link.onCallerFrames(this.slot, undefined);
    this.stats.playedSamples = this.playout.playedSamples;
    this.stats.underruns = this.playout.underruns;
    this.playout.close();
    for (const a of this.announcements.splice(0)) a.resolve();
    this.session?.close(reason);
    return this.recorder ? this.recorder.close() : Promise.resolve(undefined);
  }
}

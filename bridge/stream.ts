import type { Logger } from "pino";
import { MediaKind } from "./page-protocol.ts";
import type { PageLink } from "./page-link.ts";
import { Playout } from "./playout.ts";
import { createPipelineSession, type PipelineProfile, type PipelineSession, type StreamInfo } from "./pipeline/index.ts";

export interface StreamOptions {
  profile: PipelineProfile;
  url: string;
  connectTimeoutMs: number;
  playoutLeadMs: number;
  maxQueueMs: number;
}

export interface StreamStats {
  callerFrames: number;
  agentSamples: number;
  playedSamples: number;
  marksPlayed: number;
  underruns: number;
  badMessages: number;
}

export interface StreamEvents {
  /** The pipeline went away or asked to hang up: the host ends the call. */
  onEnd(reason: string): void;
}

/**
 * One call's stream: caller frames from the page slot to the pipeline, pipeline audio through
 * playout back into the slot. Owns nothing but the pipeline connection and the playout queue.
 */
export class CallStream {
  private session: PipelineSession | undefined;
  private playout: Playout | undefined;
  private closed = false;
  readonly stats: StreamStats = { callerFrames: 0, agentSamples: 0, playedSamples: 0, marksPlayed: 0, underruns: 0, badMessages: 0 };

  constructor(
    private readonly link: PageLink,
    readonly slot: number,
    private readonly opts: StreamOptions,
    private readonly events: StreamEvents,
    private readonly log: Logger,
  ) {}

  async open(info: StreamInfo): Promise<void> {
    const session = createPipelineSession(this.opts.profile, { url: this.opts.url, connectTimeoutMs: this.opts.connectTimeoutMs }, {
      onAudio: (pcm) => {
        this.stats.agentSamples += pcm.length;
        this.playout?.push(pcm);
      },
      onMark: (name) => this.playout?.mark(name),
      onClear: () => {
        for (const name of this.playout?.clear() ?? []) this.session?.sendMarkPlayed(name);
      },
      onHangup: () => this.events.onEnd("pipeline-hangup"),
      onClosed: (code, reason) => {
        this.log.warn({ code, reason }, "pipeline closed the stream mid-call");
        this.events.onEnd("pipeline-closed");
      },
      onBadMessage: (problem) => {
        this.stats.badMessages++;
        if (this.stats.badMessages <= 5) this.log.warn({ problem }, "pipeline message ignored");
      },
    });
    this.session = session;
    this.playout = new Playout(
      {
        sendAgent: (pcm) => this.link.sendAgent(this.slot, pcm),
        clear: () => this.link.sendSlotCommand(this.slot, MediaKind.Clear),
      },
      { sampleRate: session.sampleRate, leadMs: this.opts.playoutLeadMs, maxQueueMs: this.opts.maxQueueMs },
      {
        onMark: (name) => {
          this.stats.marksPlayed++;
          this.session?.sendMarkPlayed(name);
        },
        onOverflow: (dropped) => this.log.error({ droppedSamples: dropped, maxQueueMs: this.opts.maxQueueMs }, "pipeline floods playout: audio beyond the queue bound refused"),
      },
    );
    this.link.onCallerFrames(this.slot, (header, pcm) => {
      if (this.closed) return;
      this.stats.callerFrames++;
      this.session?.sendCallerAudio(pcm);
      this.playout?.onCallerFrame(header);
    });
    await session.open(info);
  }

  /** ICE/DTLS are up: audio sent from now on reaches the caller. */
  mediaConnected(): void {
    this.playout?.start();
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.link.onCallerFrames(this.slot, undefined);
    if (this.playout) {
      this.stats.playedSamples = this.playout.playedSamples;
      this.stats.underruns = this.playout.underruns;
    }
    this.session?.close(reason);
  }
}

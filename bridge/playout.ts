import type { CallerFrameHeader } from "./page-frames.ts";
import { mediaProbe } from "./probe.ts";

/**
 * Chunks queued at most, whatever their size: maxQueueMs bounds the audio, this bounds the
 * objects (120 s of 10 ms chunks). A pipeline sending a few samples per message hits it first.
 */
export const MAX_QUEUED_CHUNKS = 12_000;

/** Where playout sends audio: the page's slot for this call. */
export interface PlayoutSink {
  sendAgent(pcm: Int16Array): void;
  clear(): void;
}

export interface PlayoutOptions {
  sampleRate: number;
  /** How far ahead of the playout position audio is sent to the page: the jitter it absorbs, and the latency it adds. */
  leadMs: number;
  /** Audio a pipeline may queue ahead of real time before new audio is refused. */
  maxQueueMs: number;
  /**
   * From playout in the page to the caller's ear: WebRTC's 10 ms capture chunks, the 20 ms packet
   * and the wire. A mark waits this long after its audio was played, so it never comes back
   * before the caller could have heard that audio.
   */
  sendPathMs: number;
}

export interface PlayoutEvents {
  /** A mark's audio has been played (or there was none before it). */
  onMark(name: string): void;
  /** The pipeline sent more than maxQueueMs ahead: the excess was refused. */
  onOverflow(droppedSamples: number): void;
}

interface Mark {
  name: string;
  /** Position in the stream of agent samples (samples pushed before the mark). */
  at: number;
}

/**
 * The one playback contract both pipeline profiles use (push, mark, clear, hear back when a mark
 * played). Audio waits here and goes to the page a small lead ahead of the playout position the
 * page reports in every caller frame, so bursts play in real time, gaps become silence, and a
 * clear has little to recall. Positions are samples since the call's start (modulo 2^32 on the
 * wire, unwrapped here).
 */
export class Playout {
  private readonly queue: Int16Array[] = [];
  private headOffset = 0;
  private queuedSamples = 0;
  /** Samples handed to the page; samples the page has consumed (played or cleared). */
  private sent = 0;
  private consumed = 0;
  private readonly marks: Mark[] = [];
  /** The last two seconds sent, by position: what the recording takes as "played" per frame. */
  private readonly history: Int16Array;
  /** Marks played, waiting out the send path, in order. */
  private readonly inFlight: Array<{ name: string; timer: NodeJS.Timeout }> = [];
  private started = false;
  /** When the page's last playout report arrived (performance.now() ms). */
  private reportedAtMs = 0;
  private readonly frame: number;
  private readonly leadSamples: number;
  private readonly maxQueueSamples: number;
  /** Samples the pipeline pushed in all. */
  pushed = 0;
  /**
   * Holes the caller heard in the agent's audio: the page ran dry and audio resumed within
   * 250 ms (a late host or a late pipeline; a pause the pipeline means is audio, or longer).
   */
  underruns = 0;
  private holes = 0;
  overflowSamples = 0;

  constructor(
    private readonly sink: PlayoutSink,
    private readonly opts: PlayoutOptions,
    private readonly events: PlayoutEvents,
  ) {
    this.frame = opts.sampleRate / 50;
    this.leadSamples = Math.max(this.frame, Math.round((opts.leadMs * opts.sampleRate) / 1000));
    this.maxQueueSamples = Math.round((opts.maxQueueMs * opts.sampleRate) / 1000);
    this.history = new Int16Array(opts.sampleRate * 2);
  }

  /** Copies `n` samples sent at playout position `from` (the last two seconds are kept). */
  readSent(from: number, n: number, out: Int16Array, at = 0): void {
    const h = this.history;
    for (let i = 0; i < n; i++) out[at + i] = h[(from + i) % h.length];
  }

  /** Media is up (ICE/DTLS connected): from now on audio reaches the caller, so playout may begin. */
  start(): void {
    this.started = true;
    this.pump();
  }

  push(pcm: Int16Array): void {
    mediaProbe?.onAgentPushed(this, pcm);
    if (pcm.length === 0) return;
    if (this.queue.length >= MAX_QUEUED_CHUNKS) {
      this.overflowSamples += pcm.length;
      return this.events.onOverflow(pcm.length);
    }
    const room = this.maxQueueSamples - this.queuedSamples;
    if (pcm.length > room) {
      const dropped = pcm.length - Math.max(0, room);
      this.overflowSamples += dropped;
      this.events.onOverflow(dropped);
      if (room <= 0) return;
      pcm = pcm.subarray(0, room);
    }
    this.queue.push(pcm);
    this.queuedSamples += pcm.length;
    this.pushed += pcm.length;
    this.pump();
  }

  mark(name: string): void {
    this.marks.push({ name, at: this.pushed });
    this.fireMarks();
  }

  /**
   * Drops everything not yet played and returns the marks that will now never play, in order.
   * Marks already played but still waiting out the send path go first, so order is kept.
   */
  clear(): string[] {
    mediaProbe?.onClear(this);
    for (const m of this.inFlight.splice(0)) {
      clearTimeout(m.timer);
      this.events.onMark(m.name);
    }
    this.queue.length = 0;
    this.headOffset = 0;
    this.queuedSamples = 0;
    // What the page still holds is dropped there: count it consumed from here on.
    this.pushed = this.sent;
    this.sink.clear();
    this.consumed = this.sent;
    return this.marks.splice(0).map((m) => m.name);
  }

  /** Every caller frame carries the page's playout counters: advance, fire marks, top up. */
  onCallerFrame(header: CallerFrameHeader): void {
    // Unwrap the page's 32-bit counter against ours (it can only trail what we sent).
    const consumed = this.sent - ((this.sent - header.consumed) >>> 0);
    if (consumed > this.consumed) this.consumed = consumed;
    this.reportedAtMs = performance.now();
    // The page counts the holes it played (silences under 250 ms inside agent audio).
    this.underruns += (header.holes - this.holes) & 0xff;
    this.holes = header.holes;
    this.fireMarks();
    this.pump();
    mediaProbe?.onCallerFrame(this);
  }

  /** Audio queued here and in the page, in ms. */
  get bufferedMs(): number {
    return ((this.queuedSamples + this.sent - this.consumed) * 1000) / this.opts.sampleRate;
  }

  /** Marks not yet sent back: waiting for their audio, or on the send path. */
  get pendingMarks(): number {
    return this.marks.length + this.inFlight.length;
  }

  get playedSamples(): number {
    return this.consumed;
  }

  /**
   * Samples played by now: the page's last report (up to a frame old) plus the real time since,
   * never past what the page was given. A barge-in cuts here, to the frame rather than the report.
   */
  playingSamples(nowMs = performance.now()): number {
    if (!this.started || this.sent === this.consumed) return this.consumed;
    const since = Math.max(0, Math.round(((nowMs - this.reportedAtMs) * this.opts.sampleRate) / 1000));
    return Math.min(this.sent, this.consumed + since);
  }

  /** Where the next pushed sample will play (reset to what was sent by a clear). */
  get pushedSamples(): number {
    return this.pushed;
  }

  get sentSamples(): number {
    return this.sent;
  }

  get sampleRate(): number {
    return this.opts.sampleRate;
  }

  private fireMarks(): void {
    while (this.marks.length && this.marks[0].at <= this.consumed) {
      const { name } = this.marks.shift()!;
      // Equal delays keep marks in order. A mark with no audio before it still waits: Twilio
      // returns it once everything sent before it has played, which here includes the send path.
      const entry = {
        name,
        timer: setTimeout(() => {
          this.inFlight.splice(this.inFlight.indexOf(entry), 1);
          this.events.onMark(name);
        }, this.opts.sendPathMs),
      };
      this.inFlight.push(entry);
    }
  }

  /** Marks already played but still on the send path when the call ends are dropped with it. */
  close(): void {
    for (const m of this.inFlight.splice(0)) clearTimeout(m.timer);
  }

  private pump(): void {
    if (!this.started) return;
    while (this.queuedSamples > 0 && this.sent - this.consumed < this.leadSamples) {
      const n = Math.min(this.frame, this.queuedSamples);
      const out = new Int16Array(n);
      let filled = 0;
      while (filled < n) {
        const head = this.queue[0];
        const take = Math.min(n - filled, head.length - this.headOffset);
        out.set(head.subarray(this.headOffset, this.headOffset + take), filled);
        filled += take;
        this.headOffset += take;
        if (this.headOffset === head.length) {
          this.queue.shift();
          this.headOffset = 0;
        }
      }
      const h = this.history;
      for (let i = 0; i < n; i++) h[(this.sent + i) % h.length] = out[i];
      this.queuedSamples -= n;
      this.sent += n;
      this.sink.sendAgent(out);
    }
  }
}

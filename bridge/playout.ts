import type { CallerFrameHeader } from "./page-frames.ts";
import { BacklogWatch, crossfade, SILENCE_PEAK, TRIM_FADE_MS, TRIM_SLICE_EVERY_MS, TRIM_SLICE_MS } from "./playout-trim.ts";
import { mediaProbe } from "./probe.ts";
import { SampleQueue } from "./sample-queue.ts";

/** How far a call's lead may grow when the host ↔ page loop runs late (one frame per hole). */
export const MAX_LEAD_MS = 200;
/** Positions where the host's queue ran empty, kept while the page may still reach them. */
const MAX_DRY_POSITIONS = 64;

/**
 * Chunks queued at most, whatever their size: maxQueueMs bounds the audio, this bounds the
 * objects (120 s of 10 ms chunks). A pipeline sending a few samples per message hits it first.
 */
export const MAX_QUEUED_CHUNKS = 12_000;

/** Where playout sends audio: the page's slot for this call. */
export interface PlayoutSink {
  /** `pcm` is playout's own frame buffer, reused for the next frame: copy it before returning. */
  sendAgent(pcm: Int16Array): void;
  clear(): void;
}

export interface PlayoutOptions {
  sampleRate: number;
  /**
   * How far ahead of the playout position audio is sent to the page: the jitter it absorbs, and
   * the latency it adds while audio is queued. The start value: a hole the host caused raises it.
   */
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
  /** A hole the host caused (audio was waiting here): the call's lead grew by a frame. */
  onLeadRaised?(leadMs: number): void;
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
  private readonly queue: SampleQueue;
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
  private leadSamples: number;
  private readonly maxLeadSamples: number;
  private readonly maxQueueSamples: number;
  /** Samples the pipeline pushed in all, less what was cleared or trimmed: marks' positions count in it. */
  pushed = 0;
  /** Samples accepted from the pipeline in all (never reset): the backlog watch's feed rate. */
  private fed = 0;
  private readonly watch: BacklogWatch;
  /** The frame handed to the sink, and the trim's scratch: reused, so sending allocates nothing. */
  private readonly out: Int16Array;
  private readonly span: Int16Array;
  private readonly joined: Int16Array;
  /** Samples dropped from standing backlogs (never from a burst). */
  trimmedSamples = 0;
  private readonly sliceSamples: number;
  private readonly sliceEverySamples: number;
  private readonly fadeSamples: number;
  private lastSliceAt = -Infinity;
  /** Where silence was last dropped (or the trim began): audio is sliced only after a window without. */
  private quietAt = -Infinity;
  private trimming = false;
  /** Values of `sent` at which the queue here ran empty: a hole there was the pipeline's, not ours. */
  private readonly dry: number[] = [];
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
    const ms = (x: number) => Math.round((x * opts.sampleRate) / 1000);
    this.leadSamples = Math.max(this.frame, ms(opts.leadMs));
    this.maxLeadSamples = Math.max(this.leadSamples, ms(MAX_LEAD_MS));
    this.watch = new BacklogWatch(opts.sampleRate);
    this.sliceSamples = ms(TRIM_SLICE_MS);
    this.sliceEverySamples = ms(TRIM_SLICE_EVERY_MS);
    this.fadeSamples = Math.max(1, ms(TRIM_FADE_MS));
    this.queue = new SampleQueue(this.fadeSamples);
    this.maxQueueSamples = Math.round((opts.maxQueueMs * opts.sampleRate) / 1000);
    this.history = new Int16Array(opts.sampleRate * 2);
    this.out = new Int16Array(this.frame);
    this.span = new Int16Array(Math.max(this.frame, this.sliceSamples) + this.fadeSamples);
    this.joined = new Int16Array(this.fadeSamples);
  }

  /** Copies `n` samples sent at playout position `from` (the last two seconds are kept). */
  readSent(from: number, n: number, out: Int16Array, at = 0): void {
    const h = this.history;
    for (let i = 0; i < n; i++) out[at + i] = h[(from + i) % h.length];
  }

  /** Media is up (ICE/DTLS connected): from now on audio reaches the caller, so playout may begin. */
  start(): void {
    this.started = true;
    this.watch.reset(this.consumed, this.fed);
    this.pump();
  }

  push(pcm: Int16Array): void {
    mediaProbe?.onAgentPushed(this, pcm);
    if (pcm.length === 0) return;
    if (this.queue.chunkCount >= MAX_QUEUED_CHUNKS) {
      this.overflowSamples += pcm.length;
      return this.events.onOverflow(pcm.length);
    }
    const room = this.maxQueueSamples - this.queue.samples;
    if (pcm.length > room) {
      const dropped = pcm.length - Math.max(0, room);
      this.overflowSamples += dropped;
      this.events.onOverflow(dropped);
      if (room <= 0) return;
      pcm = pcm.subarray(0, room);
    }
    this.queue.push(pcm);
    this.pushed += pcm.length;
    this.fed += pcm.length;
    if (this.started) this.watch.onFed(this.consumed, this.fed);
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
    // The page first: until it drops its audio the caller hears more of it; the bookkeeping and
    // the marks sent back below can wait the few microseconds.
    this.sink.clear();
    for (const m of this.inFlight.splice(0)) {
      clearTimeout(m.timer);
      this.events.onMark(m.name);
    }
    this.queue.clear();
    // What the page still holds is dropped there: count it consumed from here on.
    this.pushed = this.sent;
    this.consumed = this.sent;
    this.dry.length = 0;
    this.watch.reset(this.consumed, this.fed);
    return this.marks.splice(0).map((m) => m.name);
  }

  /** Every caller frame carries the page's playout counters: advance, fire marks, top up. */
  onCallerFrame(header: CallerFrameHeader): void {
    // Unwrap the page's 32-bit counter against ours (it can only trail what we sent).
    const consumed = this.sent - ((this.sent - header.consumed) >>> 0);
    const before = this.consumed;
    if (consumed > this.consumed) this.consumed = consumed;
    this.reportedAtMs = performance.now();
    // The page counts the holes it played (silences under 250 ms inside agent audio).
    const holes = (header.holes - this.holes) & 0xff;
    this.holes = header.holes;
    if (holes > 0) this.onHoles(holes, before);
    while (this.dry.length && this.dry[0] < this.consumed) this.dry.shift();
    if (this.started) this.watch.onFrame(this.consumed, this.fed, this.queue.samples + this.sent - this.consumed);
    this.fireMarks();
    this.pump();
    mediaProbe?.onCallerFrame(this);
  }

  /**
   * The page ran dry and resumed between the last frame's position and this one's. If the queue
   * here ran empty right there, the pipeline was late (after a trim: keep a frame more of its
   * backlog); otherwise audio was waiting here while the page starved, so the host ↔ page loop
   * was late: give this call one more frame of lead.
   */
  private onHoles(holes: number, from: number): void {
    this.underruns += holes;
    if (this.dry.some((at) => at >= from && at <= this.consumed)) {
      // The pipeline was late. If its backlog was trimmed, the floor left was too thin for it.
      if (this.trimmedSamples > 0) this.watch.raiseBase(this.frame);
      return;
    }
    if (this.leadSamples >= this.maxLeadSamples) return;
    this.leadSamples = Math.min(this.maxLeadSamples, this.leadSamples + this.frame);
    this.events.onLeadRaised?.(this.leadMs);
  }

  /** The call's lead now (it grows after holes the host caused). */
  get leadMs(): number {
    return (this.leadSamples * 1000) / this.opts.sampleRate;
  }

  /** The level this call's standing backlog is trimmed down to (it grows when the pipeline runs late after a trim). */
  get trimBaseMs(): number {
    return (this.watch.baseSamples * 1000) / this.opts.sampleRate;
  }

  get trimmedMs(): number {
    return (this.trimmedSamples * 1000) / this.opts.sampleRate;
  }

  /** Audio queued here and in the page, in ms. */
  get bufferedMs(): number {
    return ((this.queue.samples + this.sent - this.consumed) * 1000) / this.opts.sampleRate;
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
    // While a standing backlog is trimmed it must stay here, where it can be cut: a lead grown
    // past the base would move it into the page instead, out of reach.
    const lead = this.watch.budget > 0 ? Math.min(this.leadSamples, this.watch.baseSamples) : this.leadSamples;
    if (this.watch.budget > 0 && !this.trimming) this.quietAt = this.sent;
    this.trimming = this.watch.budget > 0;
    while (this.queue.samples > 0 && this.sent - this.consumed < lead) {
      if (this.watch.budget > 0) this.trimHead();
      const n = Math.min(this.frame, this.queue.samples);
      // Short only at the tail of the queue: then a view of the same buffer (no new memory).
      const out = n === this.frame ? this.out : this.out.subarray(0, n);
      this.queue.take(out, n);
      const h = this.history;
      for (let i = 0; i < n; i++) h[(this.sent + i) % h.length] = out[i];
      this.sent += n;
      this.sink.sendAgent(out);
    }
    if (this.queue.samples === 0 && this.dry[this.dry.length - 1] !== this.sent) {
      this.dry.push(this.sent);
      if (this.dry.length > MAX_DRY_POSITIONS) this.dry.shift();
    }
  }

  /**
   * Cuts part of a standing backlog from the head of the queue, just before it is sent: frames of
   * silence whenever the head is silent; after a window with none, one short slice of audio per
   * TRIM_SLICE_EVERY_MS. The
   * cut is a crossfade from the audio before it into the audio after it, so it does not click.
   */
  private trimHead(): void {
    const fade = this.fadeSamples;
    while (this.watch.budget > 0) {
      const silent = this.queue.peak(this.frame + fade) < SILENCE_PEAK;
      // Silence first: audio is sliced only once a window has passed with no silence to drop.
      if (!silent && (this.sent - this.lastSliceAt < this.sliceEverySamples || this.sent - this.quietAt < this.watch.windowSamples)) return;
      const cut = Math.min(this.watch.budget, silent ? this.frame : this.sliceSamples);
      // Leave a frame after the join: the cut never ends the queue.
      if (this.queue.samples < cut + fade + this.frame) return;
      const span = this.span;
      this.queue.take(span, cut + fade);
      crossfade(span, span, this.joined, cut);
      // The queue copies the join: the scratch is free again for the next cut.
      this.queue.unshift(this.joined);
      this.pushed -= cut;
      this.trimmedSamples += cut;
      this.watch.budget -= cut;
      // Marks after the cut come `cut` samples sooner; one inside it falls on the join.
      for (let i = this.marks.length - 1; i >= 0 && this.marks[i].at > this.sent; i--) this.marks[i].at = Math.max(this.sent, this.marks[i].at - cut);
      // Silence goes as fast as it comes; audio one slice at a time.
      if (silent) this.quietAt = this.sent;
      else {
        this.lastSliceAt = this.sent;
        return;
      }
    }
  }
}

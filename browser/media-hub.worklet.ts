/**
 * One AudioWorklet processor for all of a page's calls (one per sample rate): input N is the
 * caller's audio of slot N, output N is the agent's audio for slot N. Runs on the real-time
 * audio thread, so it allocates nothing per quantum: capture buffers come from a pool the
 * media worker returns, playout uses one preallocated ring per slot.
 */
import { DOWN_HEADER_BYTES, MediaKind, UP_HEADER_BYTES, downKind, downSlot, writeCallerHeader } from "../bridge/page-frames.ts";

declare const sampleRate: number;
declare function registerProcessor(name: string, ctor: unknown): void;
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
  constructor(options?: unknown);
}

interface HubOptions {
  processorOptions: { slots: number; frameSamples: number; ringSamples: number };
}

/**
 * A short linear ramp at the edges of agent audio, so starts, stops and clears do not click: 2 ms
 * at any rate (16 samples at 8 kHz). A clear is heard as silence once its ramp ends, so the ramp
 * is as short as a click-free cut allows.
 */
const FADE_MS = 2;

class Slot {
  active = false;
  // capture
  frame: ArrayBuffer | undefined;
  pcm: Int16Array | undefined;
  fill = 0;
  seq = 0;
  // playout
  readonly ring: Int16Array;
  read = 0;
  write = 0;
  queued = 0;
  consumed = 0;
  /** Whether the last quantum ended with agent audio (for the fade-in on resume). */
  sounding = false;
  /** Silence played since agent audio last ran out (-1: none played yet). */
  gap = -1;
  /** Holes: agent audio resumed within 250 ms of running out (mod 256, in the header's flags). */
  holes = 0;

  constructor(ringSamples: number) {
    this.ring = new Int16Array(ringSamples);
  }

  reset(): void {
    this.fill = 0;
    this.seq = 0;
    this.read = this.write = this.queued = 0;
    this.consumed = 0;
    this.sounding = false;
    this.gap = -1;
    this.holes = 0;
  }
}

class MediaHub extends AudioWorkletProcessor {
  private readonly slots: Slot[];
  private readonly frameSamples: number;
  private readonly pool: ArrayBuffer[] = [];
  private out: MessagePort | undefined;
  private dropped = 0;
  /** 250 ms: shorter silences inside agent audio are holes (speech pauses come as audio, or last longer). */
  private readonly holeSamples: number;
  private readonly fade: number;

  constructor(options: HubOptions) {
    super();
    const { slots, frameSamples, ringSamples } = options.processorOptions;
    this.frameSamples = frameSamples;
    this.holeSamples = Math.round(sampleRate * 0.25);
    this.fade = Math.max(8, Math.round((sampleRate * FADE_MS) / 1000));
    this.slots = Array.from({ length: slots }, () => new Slot(ringSamples));
    for (let i = 0; i < slots * 8; i++) this.pool.push(this.newFrame());
    this.port.onmessage = (e: MessageEvent) => this.onControl(e.data);
  }

  private newFrame(): ArrayBuffer {
    return new ArrayBuffer(UP_HEADER_BYTES + this.frameSamples * 2);
  }

  private onControl(msg: { type: string; port?: MessagePort; slot?: number; active?: boolean }): void {
    if (msg.type === "port" && msg.port) {
      this.out = msg.port;
      this.out.onmessage = (e: MessageEvent) => this.onMedia(e.data);
    } else if (msg.type === "slot" && msg.slot !== undefined) {
      const slot = this.slots[msg.slot];
      slot.reset();
      slot.active = Boolean(msg.active);
    }
  }

  /** From the media worker: agent frames and clears (ArrayBuffers), or returned capture buffers (arrays). */
  private onMedia(data: ArrayBuffer | ArrayBuffer[]): void {
    if (Array.isArray(data)) {
      for (const b of data) this.pool.push(b);
      return;
    }
    const view = new DataView(data);
    const kind = downKind(view);
    const slot = this.slots[downSlot(view)];
    if (!slot) return;
    if (kind === MediaKind.Agent) this.enqueue(slot, new Int16Array(data, DOWN_HEADER_BYTES));
    else if (kind === MediaKind.Clear) this.clear(slot);
  }

  private enqueue(slot: Slot, pcm: Int16Array): void {
    const ring = slot.ring;
    const room = ring.length - slot.queued;
    const n = Math.min(room, pcm.length);
    // The host paces to a small lead, so overflow means a bug upstream: count it, never block.
    this.dropped += pcm.length - n;
    for (let i = 0; i < n; i++) {
      ring[slot.write] = pcm[i];
      slot.write = slot.write + 1 === ring.length ? 0 : slot.write + 1;
    }
    slot.queued += n;
  }

  private clear(slot: Slot): void {
    // Keep just enough to ramp down (play() fades a tail that runs dry), so the cut does not click;
    // the rest is dropped but counted consumed, so the positions the host gave marks stay aligned.
    const keep = slot.sounding ? Math.min(slot.queued, this.fade) : 0;
    const drop = slot.queued - keep;
    slot.consumed = (slot.consumed + drop) >>> 0;
    slot.write = (slot.read + keep) % slot.ring.length;
    slot.queued = keep;
    // A silence the pipeline asked for is no hole.
    slot.gap = -1;
  }

  process(inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    for (let s = 0; s < this.slots.length; s++) {
      const slot = this.slots[s];
      if (!slot.active) continue;
      const out = outputs[s]?.[0];
      this.play(slot, out);
      // The render quantum is the context's renderSizeHint (page-frames.ts), not always 128.
      this.capture(slot, s, inputs[s]?.[0], out?.length ?? 128);
    }
    return true;
  }

  private play(slot: Slot, out: Float32Array | undefined): void {
    if (!out) return;
    const n = out.length;
    const available = Math.min(slot.queued, n);
    const ring = slot.ring;
    const fadeIn = !slot.sounding;
    const fade = this.fade;
    for (let i = 0; i < available; i++) {
      let v = ring[slot.read] / 32768;
      if (fadeIn && i < fade) v *= i / fade;
      // Running dry inside this quantum: ramp the tail down instead of stepping to zero.
      if (available < n && i >= available - fade) v *= (available - i) / fade;
      out[i] = v;
      slot.read = slot.read + 1 === ring.length ? 0 : slot.read + 1;
    }
    for (let i = available; i < n; i++) out[i] = 0;
    // A silence shorter than a speech pause between two runs of agent audio is a hole the caller
    // heard (the host or the pipeline was late), counted here where it happens.
    if (available > 0 && slot.gap > 0 && slot.gap < this.holeSamples) slot.holes = (slot.holes + 1) & 0xff;
    if (available > 0) slot.gap = n - available;
    else if (slot.gap >= 0) slot.gap += n;
    slot.queued -= available;
    slot.consumed = (slot.consumed + available) >>> 0;
    slot.sounding = available === n;
  }

  private capture(slot: Slot, index: number, input: Float32Array | undefined, quantum: number): void {
    const n = input && input.length > 0 ? input.length : quantum;
    for (let i = 0; i < n; i++) {
      if (!slot.pcm) {
        const frame = this.pool.pop() ?? this.newFrame();
        slot.frame = frame;
        slot.pcm = new Int16Array(frame, UP_HEADER_BYTES);
        slot.fill = 0;
      }
      const v = input && i < input.length ? input[i] : 0;
      slot.pcm[slot.fill++] = v >= 1 ? 32767 : v <= -1 ? -32768 : (v * 32767) | 0;
      if (slot.fill === this.frameSamples) {
        const frame = slot.frame!;
        writeCallerHeader(new DataView(frame), index, slot.seq++, slot.consumed, slot.queued, slot.holes);
        this.out?.postMessage(frame, [frame]);
        slot.pcm = undefined;
        slot.frame = undefined;
      }
    }
  }
}

registerProcessor("media-hub", MediaHub);

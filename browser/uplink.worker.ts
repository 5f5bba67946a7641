/**
 * The fast uplink's worker (UPLINK=fast): the RTCRtpScriptTransform of every call's audio
 * receiver. Each RTP payload passes through unchanged (Chrome's own playout, and with it the
 * worklet's capture and the recording, see exactly what they saw before), and a copy is put back
 * in order (./uplink-lane.ts), decoded (μ-law/A-law by table, Opus with WebCodecs), brought to
 * the pipeline's rate and sent to the host as 20 ms CallerFast frames through the media worker.
 */
import { alaw, mulaw } from "alawmulaw";
import { UP_HEADER_BYTES, frameSamples, writeFastHeader } from "../bridge/page-frames.ts";
import { UplinkLane, opusTicks, type LanePacket } from "./uplink-lane.ts";
import { Resampler } from "./uplink-resample.ts";

// The DOM lib has no worker-scope types: the members used here are declared by hand.
interface FrameMeta {
  payloadType?: number;
  mimeType?: string;
  synchronizationSource?: number;
  rtpTimestamp?: number;
}
interface EncodedFrame {
  data: ArrayBuffer;
  timestamp?: number;
  getMetadata(): FrameMeta;
}
interface Transformer {
  readable: ReadableStream<EncodedFrame>;
  writable: WritableStream<EncodedFrame>;
  options: TapOptions;
}
export interface TapOptions {
  slot: number;
  /** The pipeline's rate (the page's AudioContext rate). */
  sampleRate: number;
}
declare const self: {
  onmessage: ((e: MessageEvent<{ type: "port"; port: MessagePort }>) => void) | null;
  onrtctransform: ((e: { transformer: Transformer }) => void) | null;
};

let media: MessagePort | undefined;
/** Frames the media worker has sent and given back, for the framers to fill again. */
const pool: ArrayBuffer[] = [];
const STATIC_TYPES: Record<number, string> = { 0: "audio/PCMU", 8: "audio/PCMA" };
/** A held packet is released when no other packet came for this long (one packet, plus slack). */
const HOLD_MS = 30;

type Codec = "PCMU" | "PCMA" | "opus";

/** 20 ms frames at the pipeline's rate, stamped with the uplink's counters. */
class Framer {
  private frame: ArrayBuffer | undefined;
  private pcm: Int16Array | undefined;
  private fill = 0;
  private seq = 0;
  gaps = 0;
  gapSamples = 0;
  private readonly samples: number;

  constructor(
    private readonly slot: number,
    sampleRate: number,
  ) {
    this.samples = frameSamples(sampleRate);
  }

  readonly put = (v: number): void => {
    if (!this.pcm) {
      const bytes = UP_HEADER_BYTES + this.samples * 2;
      const reused = pool.pop();
      this.frame = reused?.byteLength === bytes ? reused : new ArrayBuffer(bytes);
      this.pcm = new Int16Array(this.frame, UP_HEADER_BYTES);
      this.fill = 0;
    }
    this.pcm[this.fill++] = v >= 1 ? 32767 : v <= -1 ? -32768 : (v * 32767) | 0;
    if (this.fill === this.samples) {
      const frame = this.frame!;
      writeFastHeader(new DataView(frame), this.slot, this.seq++, this.gaps, this.gapSamples);
      media?.postMessage(frame, [frame]);
      this.pcm = this.frame = undefined;
    }
  };
}

/** One receiver's tap: lane → decoder → resampler → framer. */
class Tap {
  private codec: Codec | undefined;
  private lane: UplinkLane | undefined;
  private resampler: Resampler | undefined;
  private decoder: AudioDecoder | undefined;
  /**
   * Opus decodes finish out of line: what was released waits here, in order, for its audio. A
   * decoder gives its outputs in decode order, one per packet (their timestamps are its own count
   * of samples, not the chunks'), so each output belongs to the oldest packet still without audio.
   */
  private readonly pending: Array<{ ticks: number; ready: boolean }> = [];
  /** Decoded samples on their way to the resampler, and zeros for gaps: grown as needed, never per packet. */
  private scratch = new Float32Array(960);
  private zeros = new Float32Array(960);
  /** Position of the next chunk, in µs of the audio decoded so far (EncodedAudioChunk wants one). */
  private chunkUs = 0;
  private holdTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly framer: Framer;

  constructor(private readonly opts: TapOptions) {
    this.framer = new Framer(opts.slot, opts.sampleRate);
  }

  packet(meta: FrameMeta, ts: number, bytes: Uint8Array): void {
    const pt = meta.payloadType ?? -1;
    // Chrome's metadata names the codec; the static payload types are the fallback.
    const mime = meta.mimeType ?? STATIC_TYPES[pt] ?? "";
    const codec: Codec | undefined = /opus/i.test(mime) ? "opus" : /pcmu/i.test(mime) ? "PCMU" : /pcma/i.test(mime) ? "PCMA" : undefined;
    if (!codec) {
      // telephone-event or comfort noise in place of audio: the timestamps it skips are no loss.
      this.lane?.notAudio();
      return;
    }
    if (codec !== this.codec) this.start(codec);
    const ticks = codec === "opus" ? opusTicks(bytes) : bytes.length;
    if (ticks === 0) return;
    this.lane!.push({ ts, ticks, payload: bytes }, meta.synchronizationSource);
    clearTimeout(this.holdTimer);
    if (this.lane!.holding) this.holdTimer = setTimeout(() => this.lane?.flush(), HOLD_MS);
  }

  private start(codec: Codec): void {
    this.lane?.flush();
    this.decoder?.close();
    this.decoder = undefined;
    this.pending.length = 0;
    this.codec = codec;
    const clockRate = codec === "opus" ? 48000 : 8000;
    this.resampler = new Resampler(clockRate, this.opts.sampleRate);
    this.lane = new UplinkLane({ audio: (p) => this.audio(p), gap: (ticks, counted) => this.gap(ticks, counted) }, clockRate);
    if (codec === "opus") this.openDecoder();
  }

  private openDecoder(): void {
    const decoder = new AudioDecoder({
      output: (data) => this.decoded(data),
      error: () => {
        // A bad packet closes the decoder: open a fresh one; what was waiting becomes silence.
        if (this.decoder === decoder) this.openDecoder();
        for (const p of this.pending) p.ready = true;
        this.drain();
      },
    });
    decoder.configure({ codec: "opus", sampleRate: 48000, numberOfChannels: 1 });
    this.decoder = decoder;
  }

  private audio(p: LanePacket): void {
    if (this.codec !== "opus") {
      const bytes = p.payload;
      const f = this.scratchFor(bytes.length);
      const decode = this.codec === "PCMU" ? mulaw.decodeSample : alaw.decodeSample;
      for (let i = 0; i < bytes.length; i++) f[i] = decode(bytes[i]) / 32768;
      this.resampler!.push(f, this.framer.put, bytes.length);
      return;
    }
    this.pending.push({ ticks: p.ticks, ready: false });
    this.decoder!.decode(new EncodedAudioChunk({ type: "key", timestamp: this.chunkUs, data: p.payload }));
    this.chunkUs += Math.round((p.ticks * 1e6) / 48000);
  }

  private gap(ticks: number, counted: boolean): void {
    const rate = this.resampler!.outRate;
    if (counted) {
      this.framer.gaps++;
      this.framer.gapSamples += Math.round((ticks * rate) / this.resampler!.inRate);
    }
    if (this.codec === "opus") {
      this.pending.push({ ticks, ready: true });
      this.drain();
    } else this.silence(ticks);
  }

  /** `ticks` of silence into the resampler, from the zero buffer. */
  private silence(ticks: number): void {
    if (ticks > this.zeros.length) this.zeros = new Float32Array(ticks);
    this.resampler!.push(this.zeros, this.framer.put, ticks);
  }

  private scratchFor(n: number): Float32Array {
    if (n > this.scratch.length) this.scratch = new Float32Array(n);
    return this.scratch;
  }

  /**
   * An Opus packet's audio. Outputs come in decode order and drain() runs after each, so the oldest
   * entry without audio is always the head: its samples go to the resampler now, from the scratch.
   */
  private decoded(data: AudioData): void {
    const head = this.pending[0];
    if (head && !head.ready) {
      const n = data.numberOfFrames;
      const f = this.scratchFor(n);
      data.copyTo(f, { planeIndex: 0, format: "f32-planar" });
      this.pending.shift();
      this.resampler!.push(f, this.framer.put, n);
    }
    data.close();
    this.drain();
  }

  /** Entries that are silence (gaps, or what a failed decoder left) go out in order, up to the next one awaiting audio. */
  private drain(): void {
    while (this.pending.length && this.pending[0].ready) this.silence(this.pending.shift()!.ticks);
  }

  close(): void {
    clearTimeout(this.holdTimer);
    this.lane = undefined;
    if (this.decoder?.state !== "closed") this.decoder?.close();
  }
}

self.onmessage = (e) => {
  if (e.data.type !== "port") return;
  media = e.data.port;
  // The media worker gives sent frames back in batches (as it does to the worklet).
  media.onmessage = (m: MessageEvent<ArrayBuffer[]>) => {
    if (Array.isArray(m.data)) for (const b of m.data) if (pool.length < 64) pool.push(b);
  };
};

self.onrtctransform = (event) => {
  const transformer = event.transformer;
  const tap = new Tap(transformer.options);
  const tee = new TransformStream<EncodedFrame, EncodedFrame>({
    transform(frame, controller) {
      // Read before passing on: the frame belongs to Chrome again once enqueued.
      const meta = frame.getMetadata();
      const ts = (meta.rtpTimestamp ?? frame.timestamp ?? 0) >>> 0;
      // A copy (the one allocation per packet left here): the lane may hold a packet back for
      // reordering, and Chrome owns the frame's data again once it is enqueued.
      const bytes = new Uint8Array(frame.data.slice(0));
      controller.enqueue(frame);
      try {
        tap.packet(meta, ts, bytes);
      } catch {
        // The tap must never stop Chrome's own audio path.
      }
    },
  });
  void transformer.readable
    .pipeThrough(tee)
    .pipeTo(transformer.writable)
    .catch(() => {})
    .finally(() => tap.close());
};

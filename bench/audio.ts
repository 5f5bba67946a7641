import wavefile from "wavefile";
import { goertzel } from "../twin/caller/analysis.ts";

/**
 * Finer audio measurements than twin/caller/analysis.ts (whose blocks are 10 ms): tone presence
 * per 2.5 ms block, burst onsets, and where a tone stops. Samples are float -1..1.
 */

/** 2.5 ms: 20 samples at 8 kHz, 40 at 16 kHz, 120 at 48 kHz (a whole number at every rate used). */
export const BLOCK_MS = 2.5;
export const blockSamples = (rate: number): number => Math.round((rate * BLOCK_MS) / 1000);

/** Tone present: Goertzel power (full-scale sine ≈ 1) above -30 dB; absent: below -40 dB. */
export const ON_POWER = 1e-3;
export const OFF_POWER = 1e-4;

/** Goertzel power of `hz` for every 2.5 ms block of the recording. */
export function blockPowers(samples: Float32Array, rate: number, hz: number): Float32Array {
  const block = blockSamples(rate);
  const n = Math.floor(samples.length / block);
  const out = new Float32Array(n);
  for (let b = 0; b < n; b++) out[b] = goertzel(samples, b * block, block, hz, rate);
  return out;
}

/**
 * The first block in [fromMs, toMs) where the tone comes on after at least `quietMs` without it.
 * Returns ms from the recording's start (the block's start), or undefined.
 */
export function onsetAfter(powers: Float32Array, fromMs: number, toMs: number, quietMs = 50): number | undefined {
  const quietBlocks = Math.round(quietMs / BLOCK_MS);
  const from = Math.max(0, Math.floor(fromMs / BLOCK_MS));
  const to = Math.min(powers.length, Math.ceil(toMs / BLOCK_MS));
  let quiet = 0;
  // Count the quiet run that leads into the window.
  for (let b = Math.max(0, from - quietBlocks); b < from; b++) quiet = powers[b] < ON_POWER ? quiet + 1 : 0;
  for (let b = from; b < to; b++) {
    if (powers[b] >= ON_POWER) {
      if (quiet >= quietBlocks) return b * BLOCK_MS;
      quiet = 0;
    } else quiet++;
  }
  return undefined;
}

/**
 * Where the tone stops for good in [fromMs, toMs): the end of the last block with the tone that is
 * followed by at least `silentMs` without it. Returns ms from the recording's start, or undefined.
 */
export function offsetAfter(powers: Float32Array, fromMs: number, toMs: number, silentMs = 100): number | undefined {
  const silentBlocks = Math.round(silentMs / BLOCK_MS);
  const from = Math.max(0, Math.floor(fromMs / BLOCK_MS));
  const to = Math.min(powers.length, Math.ceil(toMs / BLOCK_MS));
  let lastOn = -1;
  for (let b = from; b < to; b++) {
    if (powers[b] >= OFF_POWER) lastOn = b;
    else if (lastOn >= 0 && b - lastOn >= silentBlocks) return (lastOn + 1) * BLOCK_MS;
    else if (lastOn < 0 && b - from >= silentBlocks) return from * BLOCK_MS; // already silent
  }
  return undefined;
}

/**
 * The twin's 16-bit mono WAV as floats, with its wall-clock anchor (ICMT `startedAtMs=`): parsed
 * by hand, because wavefile's bit-depth conversion takes ~0.5 s per minute of 48 kHz audio.
 */
export interface Recording {
  samples: Float32Array;
  rate: number;
  /** The twin's anchor: when the first RTP packet arrived (sample 0 "heard"). */
  startedAtMs: number | undefined;
  /** bench/twin-probe.ts: the least-delayed packet's anchor, the caller's first frame due time, its late frames (index → ms). */
  anchorMs?: number;
  /** bench/twin-probe.ts: the same anchor per `bucketMs` of media time (NaN where no packet came). */
  anchors?: { bucketMs: number; ms: number[] };
  firstDueMs?: number;
  lateMs?: Map<number, number>;
}

export function decodeWav(buf: Buffer): Recording {
  if (buf.toString("ascii", 0, 4) !== "RIFF" || buf.toString("ascii", 8, 12) !== "WAVE") throw new Error("not a WAV file");
  let rate = 0;
  let bits = 0;
  let channels = 0;
  let samples: Float32Array | undefined;
  let comment = "";
  for (let at = 12; at + 8 <= buf.length; ) {
    const id = buf.toString("ascii", at, at + 4);
    const size = buf.readUInt32LE(at + 4);
    const body = at + 8;
    if (id === "fmt ") {
      channels = buf.readUInt16LE(body + 2);
      rate = buf.readUInt32LE(body + 4);
      bits = buf.readUInt16LE(body + 14);
    } else if (id === "data") {
      if (bits !== 16 || channels !== 1) return decodeWithWavefile(buf);
      const n = Math.floor(size / 2);
      samples = new Float32Array(n);
      for (let i = 0; i < n; i++) samples[i] = buf.readInt16LE(body + 2 * i) / 32768;
    } else if (id === "LIST") comment = buf.toString("latin1", body, body + size);
    at = body + size + (size % 2);
  }
  if (!samples) throw new Error("WAV without data");
  return { samples, rate, ...parseComment(comment) };
}

/** The ICMT fields: `startedAtMs=…;anchorMs=…;firstDueMs=…;late=i:ms,…` (all but the first from bench/twin-probe.ts). */
function parseComment(text: string): Omit<Recording, "samples" | "rate"> {
  const field = (name: string) => text.match(new RegExp(`${name}=([^;\u0000]*)`))?.[1];
  const num = (name: string) => {
    const v = field(name);
    return v === undefined || v === "" || Number.isNaN(Number(v)) ? undefined : Number(v);
  };
  const late = field("late");
  const anchors = field("anchors")?.split(":");
  return {
    startedAtMs: num("startedAtMs"),
    anchorMs: num("anchorMs"),
    anchors: anchors?.length === 2 ? { bucketMs: Number(anchors[0]), ms: anchors[1].split(",").map((x) => (x === "" ? NaN : Number(x))) } : undefined,
    firstDueMs: num("firstDueMs"),
    lateMs: late ? new Map(late.split(",").filter(Boolean).map((x) => x.split(":").map(Number) as [number, number])) : undefined,
  };
}

function decodeWithWavefile(buf: Buffer): Recording {
  const w = new wavefile.WaveFile(buf);
  const comment = String(w.getTag("ICMT") ?? "");
  w.toBitDepth("32f");
  return { samples: w.getSamples(false, Float32Array) as unknown as Float32Array, rate: (w.fmt as { sampleRate: number }).sampleRate, ...parseComment(comment) };
}

/**
 * The anchor for audio heard around wall time `atMs`: the least-delayed packet within ± `spanMs`
 * of media time there, so a slip of the sender's RTP clock earlier or later in the call does not
 * move this figure. Falls back to the call's one anchor.
 */
export function localAnchor(rec: Recording, atMs: number, spanMs = 500): number {
  const whole = rec.anchorMs ?? rec.startedAtMs!;
  if (!rec.anchors) return whole;
  const { bucketMs, ms } = rec.anchors;
  const at = atMs - whole;
  let best = Infinity;
  for (let b = Math.max(0, Math.floor((at - spanMs) / bucketMs)); b <= Math.floor((at + spanMs) / bucketMs) && b < ms.length; b++) if (ms[b] < best) best = ms[b];
  return Number.isFinite(best) ? best : whole;
}

/** A sine as PCM16 with continuous phase across calls (for streaming a tone in chunks). */
export class ToneWriter {
  private phase = 0;
  constructor(
    private readonly hz: number,
    private readonly rate: number,
    private readonly dbfs = -12,
  ) {}

  next(ms: number): Int16Array {
    const amp = 32767 * 10 ** (this.dbfs / 20);
    const out = new Int16Array(Math.round((this.rate * ms) / 1000));
    const step = (2 * Math.PI * this.hz) / this.rate;
    for (let i = 0; i < out.length; i++) {
      out[i] = Math.round(amp * Math.sin(this.phase));
      this.phase += step;
      if (this.phase > 2 * Math.PI) this.phase -= 2 * Math.PI;
    }
    return out;
  }

  /** Restart at phase 0 (each burst starts the same way). */
  reset(): void {
    this.phase = 0;
  }
}

/**
 * Streaming onset detector for 20 ms frames arriving one by one (pipeline or host side): tracks
 * tone presence per 2.5 ms block and reports each block where the tone comes on after ≥ quietMs.
 */
export class OnsetDetector {
  private quiet = Infinity;
  private readonly block: number;
  private readonly quietBlocks: number;
  private readonly buf: Float32Array;
  /** Samples seen so far. */
  samples = 0;

  constructor(
    private readonly hz: number,
    private readonly rate: number,
    quietMs = 100,
  ) {
    this.block = blockSamples(rate);
    this.quietBlocks = Math.round(quietMs / BLOCK_MS);
    this.buf = new Float32Array(this.block);
  }

  /** Feeds one frame (int16); returns the onsets in it as sample indexes since the first frame. */
  push(pcm: Int16Array): number[] {
    const onsets: number[] = [];
    for (let at = 0; at + this.block <= pcm.length; at += this.block) {
      for (let i = 0; i < this.block; i++) this.buf[i] = pcm[at + i] / 32768;
      const p = goertzel(this.buf, 0, this.block, this.hz, this.rate);
      if (p >= ON_POWER) {
        if (this.quiet >= this.quietBlocks) onsets.push(this.samples + at);
        this.quiet = 0;
      } else this.quiet++;
    }
    this.samples += pcm.length;
    return onsets;
  }
}

/** Tone present per 10 ms block (Goertzel above minDbfs), as twin/caller/analysis.ts toneSpan judges it. */
export function presence10ms(samples: Float32Array, rate: number, hz: number, minDbfs = -30): boolean[] {
  const block = Math.round(rate / 100);
  const threshold = 10 ** (minDbfs / 10);
  const present: boolean[] = [];
  for (let from = 0; from + block <= samples.length; from += block) present.push(goertzel(samples, from, block, hz, rate) > threshold);
  return present;
}

/**
 * Longest run of 10 ms blocks without the tone, inside the tone's span (first to last block with
 * it) and inside blocks [from, to): its length and where it starts (ms from block 0).
 */
export function longestGap(present: boolean[], from = 0, to = present.length): { gapMs: number; atMs: number } | undefined {
  const first = Math.max(present.indexOf(true), from);
  const last = Math.min(present.lastIndexOf(true), to - 1);
  if (present.indexOf(true) === -1 || first > last) return undefined;
  let best = { gapMs: 0, atMs: 0 };
  let run = 0;
  for (let i = first; i <= last; i++) {
    if (present[i]) run = 0;
    else if (++run * 10 > best.gapMs) best = { gapMs: run * 10, atMs: (i - run + 1) * 10 };
  }
  return best;
}

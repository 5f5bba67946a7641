import wavefile from "wavefile";
import { dominantHz, rmsDbfs } from "./analysis.ts";

/**
 * Everything the caller hears, placed on the sender's RTP clock so jitter does not smear it,
 * and anchored to wall-clock time: sample 0 was heard at `startedAtMs` (epoch ms).
 */
export class Recorder {
  private chunks: Float32Array[] = [];
  private length = 0;
  private firstTs: number | undefined;
  private tsWraps = 0;
  private lastTs = 0;
  private lastSeq: number | undefined;
  startedAtMs: number | undefined;
  frames = 0;
  lostFrames = 0;
  /** Longest wait between two packets (ms): a stall the caller would hear. */
  longestArrivalGapMs = 0;
  private lastArrivalMs = 0;

  constructor(readonly rate: number, private readonly clockRate: number) {}

  push(seq: number, ts: number, pcm: Int16Array, arrivalMs = Date.now()): void {
    if (this.firstTs === undefined) {
      this.firstTs = ts;
      this.lastTs = ts;
      this.startedAtMs = arrivalMs;
    }
    if (ts < this.lastTs && this.lastTs - ts > 0x80000000) this.tsWraps++;
    this.lastTs = ts;
    if (this.lastSeq !== undefined) {
      const step = (seq - this.lastSeq + 0x10000) & 0xffff;
      if (step > 1 && step < 1000) this.lostFrames += step - 1;
      this.longestArrivalGapMs = Math.max(this.longestArrivalGapMs, arrivalMs - this.lastArrivalMs);
    }
    this.lastSeq = seq;
    this.lastArrivalMs = arrivalMs;
    this.frames++;
    const elapsed = ts + this.tsWraps * 0x100000000 - this.firstTs;
    const at = Math.round((elapsed * this.rate) / this.clockRate);
    this.write(at, pcm);
  }

  private write(at: number, pcm: Int16Array): void {
    const end = at + pcm.length;
    while (this.chunks.length * CHUNK < end) this.chunks.push(new Float32Array(CHUNK));
    for (let i = 0; i < pcm.length; i++) {
      const p = at + i;
      if (p < 0) continue;
      this.chunks[Math.floor(p / CHUNK)][p % CHUNK] = pcm[i] / 32768;
    }
    this.length = Math.max(this.length, end);
  }

  samples(): Float32Array {
    const out = new Float32Array(this.length);
    this.chunks.forEach((c, i) => out.set(c.subarray(0, Math.min(CHUNK, this.length - i * CHUNK)), i * CHUNK));
    return out;
  }

  stats(): RecordingStats {
    const s = this.samples();
    return {
      startedAtMs: this.startedAtMs ?? null,
      durationMs: Math.round((s.length * 1000) / this.rate),
      rate: this.rate,
      frames: this.frames,
      lostFrames: this.lostFrames,
      longestArrivalGapMs: this.longestArrivalGapMs,
      levelDbfs: s.length ? Math.round(rmsDbfs(s) * 10) / 10 : null,
      dominantHz: s.length ? Math.round(dominantHz(s, this.rate) * 10) / 10 || null : null,
    };
  }

  wav(): Buffer {
    const wav = new wavefile.WaveFile();
    const s = this.samples();
    const pcm = new Int16Array(s.length);
    for (let i = 0; i < s.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(s[i] * 32768)));
    wav.fromScratch(1, this.rate, "16", pcm);
    // The wall-clock anchor travels with the file, so latency can be measured from it alone.
    if (this.startedAtMs !== undefined) wav.setTag("ICMT", `startedAtMs=${this.startedAtMs}`);
    return Buffer.from(wav.toBuffer());
  }
}

const CHUNK = 48000;

export interface RecordingStats {
  startedAtMs: number | null;
  durationMs: number;
  rate: number;
  frames: number;
  lostFrames: number;
  longestArrivalGapMs: number;
  levelDbfs: number | null;
  dominantHz: number | null;
}

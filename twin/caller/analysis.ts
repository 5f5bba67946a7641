import FFT from "fft.js";

/** Measurements of recorded audio: level, dominant frequency, continuity. Samples are float -1..1. */

export function rmsDbfs(samples: ArrayLike<number>, from = 0, to = samples.length): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += samples[i] * samples[i];
  const rms = Math.sqrt(sum / Math.max(1, to - from));
  return rms > 0 ? 20 * Math.log10(rms) : -Infinity;
}

/** Strongest frequency over the given span: averaged FFT power spectra, parabolic peak interpolation. */
export function dominantHz(samples: Float32Array, rate: number, from = 0, to = samples.length): number {
  const size = rate >= 32000 ? 16384 : 4096;
  if (to - from < size) return NaN;
  const fft = new FFT(size);
  const power = new Float64Array(size / 2);
  const input = new Array<number>(size);
  const out = fft.createComplexArray() as number[];
  for (let start = from; start + size <= to; start += size) {
    for (let i = 0; i < size; i++) input[i] = samples[start + i] * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (size - 1)));
    fft.realTransform(out, input);
    for (let k = 1; k < size / 2; k++) power[k] += out[2 * k] ** 2 + out[2 * k + 1] ** 2;
  }
  let best = 1;
  for (let k = 2; k < size / 2 - 1; k++) if (power[k] > power[best]) best = k;
  const [a, b, c] = [Math.log(power[best - 1] + 1e-30), Math.log(power[best] + 1e-30), Math.log(power[best + 1] + 1e-30)];
  const shift = (a - c) / (2 * (a - 2 * b + c));
  return ((best + (Number.isFinite(shift) ? shift : 0)) * rate) / size;
}

/** Fraction of energy above `hz` (e.g. 4000 to show wideband audio survived). */
export function energyAboveHz(samples: Float32Array, rate: number, hz: number): number {
  const size = 4096;
  const fft = new FFT(size);
  const out = fft.createComplexArray() as number[];
  let above = 0;
  let total = 0;
  for (let start = 0; start + size <= samples.length; start += size) {
    fft.realTransform(out, Array.from(samples.subarray(start, start + size)));
    for (let k = 1; k < size / 2; k++) {
      const p = out[2 * k] ** 2 + out[2 * k + 1] ** 2;
      total += p;
      if ((k * rate) / size >= hz) above += p;
    }
  }
  return total > 0 ? above / total : 0;
}

/** Goertzel power of one frequency over a block, normalised to a full-scale sine ≈ 1. */
export function goertzel(samples: ArrayLike<number>, from: number, length: number, hz: number, rate: number): number {
  const coeff = 2 * Math.cos((2 * Math.PI * hz) / rate);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < length; i++) {
    const s0 = samples[from + i] + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  return (4 * power) / (length * length);
}

export interface ToneSpan {
  /** First and last 10 ms block where the tone is present, in ms from the recording's start. */
  startMs: number;
  endMs: number;
  /** Longest run of blocks inside the span without the tone. */
  longestGapMs: number;
  /** Fraction of blocks inside the span that carry the tone. */
  presence: number;
}

/** Where a tone is present (Goertzel per 10 ms block, above `minDbfs`), and its longest dropout. */
export function toneSpan(samples: Float32Array, rate: number, hz: number, minDbfs = -40): ToneSpan | undefined {
  const block = Math.round(rate / 100);
  const threshold = 10 ** (minDbfs / 10);
  const present: boolean[] = [];
  for (let from = 0; from + block <= samples.length; from += block) present.push(goertzel(samples, from, block, hz, rate) > threshold);
  const first = present.indexOf(true);
  const last = present.lastIndexOf(true);
  if (first === -1) return undefined;
  let gap = 0;
  let longest = 0;
  let on = 0;
  for (let i = first; i <= last; i++) {
    if (present[i]) {
      on++;
      gap = 0;
    } else longest = Math.max(longest, ++gap);
  }
  return { startMs: first * 10, endMs: (last + 1) * 10, longestGapMs: longest * 10, presence: on / (last - first + 1) };
}

/** First moment (ms) where 10 ms of audio rises above `minDbfs`, at or after `fromMs`. */
export function onsetMs(samples: Float32Array, rate: number, minDbfs = -40, fromMs = 0): number | undefined {
  const block = Math.round(rate / 100);
  for (let from = Math.round((fromMs * rate) / 1000); from + block <= samples.length; from += block) {
    if (rmsDbfs(samples, from, from + block) > minDbfs) return (from * 1000) / rate;
  }
  return undefined;
}

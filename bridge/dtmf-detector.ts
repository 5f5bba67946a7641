import { goertzelCoeff, goertzelPower } from "./goertzel.ts";

/**
 * In-band DTMF detection on the caller's audio (the WebPhone cannot receive RFC 4733 in the
 * browser). Goertzel on the eight DTMF frequencies over ~25.6 ms windows with half-window hops;
 * a digit needs two consecutive hits (≥ 38 ms of tone) that pass level, twist, peak-separation
 * and tone-to-total-energy checks, the last of which keeps speech from counting as digits.
 */
const ROWS = [697, 770, 852, 941];
const COLS = [1209, 1336, 1477, 1633];
const KEYS = ["123A", "456B", "789C", "*0#D"];

/** Each tone at least -36 dBFS (a sine's Goertzel power ≈ amplitude²). */
const MIN_TONE_POWER = 10 ** (-36 / 10) * 2;
/** Row/column level difference allowed (Opus and phones tilt the spectrum). */
const MAX_TWIST_DB = 8;
/** The strongest row (column) must beat the others by this much. */
const MIN_PEAK_SEPARATION_DB = 6;
/** Share of the window's energy the two tones must hold: speech spreads its energy wide. */
const MIN_TONE_ENERGY_RATIO = 0.6;

export class DtmfDetector {
  /** The window written twice (ring[i] = ring[i + size]), so ring[pos, pos + size) is it oldest first. */
  private readonly ring: Float32Array;
  private readonly size: number;
  private readonly hop: number;
  private fill = 0;
  private pos = 0;
  private sinceHop = 0;
  private readonly power = new Float64Array(8);
  private readonly coeffs: number[];
  private candidate: string | undefined;
  private hits = 0;
  private misses = 0;
  private current: string | undefined;

  constructor(
    private readonly sampleRate: number,
    private readonly onDigit: (digit: string) => void,
  ) {
    const size = Math.round(sampleRate * 0.0256);
    this.size = size;
    this.ring = new Float32Array(2 * size);
    this.hop = size >> 1;
    this.coeffs = [...ROWS, ...COLS].map((hz) => goertzelCoeff(hz, sampleRate));
  }

  /** Feed one frame of the caller's audio (PCM16). */
  push(pcm: Int16Array): void {
    const size = this.size;
    for (let i = 0; i < pcm.length; i++) {
      this.ring[this.pos] = this.ring[this.pos + size] = pcm[i] / 32768;
      this.pos = this.pos + 1 === size ? 0 : this.pos + 1;
      if (this.fill < size) this.fill++;
      if (this.fill === size && ++this.sinceHop >= this.hop) {
        this.sinceHop = 0;
        this.decide(this.classify());
      }
    }
  }

  private classify(): string | undefined {
    const w = this.ring;
    const n = this.size;
    let energy = 0;
    for (let i = 0; i < n; i++) energy += w[i] * w[i];
    energy /= n;
    if (energy < MIN_TONE_POWER / 2) return undefined;
    const power = this.power;
    for (let k = 0; k < 8; k++) power[k] = goertzelPower(w, this.coeffs[k], this.pos, this.pos + n);
    const row = argmax(power, 0, 4);
    const col = argmax(power, 4, 8);
    const pr = power[row];
    const pc = power[col];
    if (pr < MIN_TONE_POWER || pc < MIN_TONE_POWER) return undefined;
    if (Math.abs(10 * Math.log10(pr / pc)) > MAX_TWIST_DB) return undefined;
    for (let i = 0; i < 8; i++) {
      if (i === row || i === col) continue;
      const peak = i < 4 ? pr : pc;
      if (10 * Math.log10(peak / Math.max(power[i], 1e-12)) < MIN_PEAK_SEPARATION_DB) return undefined;
    }
    // Two sines of powers pr, pc carry (pr + pc) / 2 of mean energy.
    if ((pr + pc) / 2 / energy < MIN_TONE_ENERGY_RATIO) return undefined;
    return KEYS[row][col - 4];
  }

  private decide(digit: string | undefined): void {
    if (digit && digit === this.candidate) this.hits++;
    else {
      this.candidate = digit;
      this.hits = digit ? 1 : 0;
    }
    if (digit) this.misses = 0;
    else if (++this.misses >= 2) this.current = undefined;
    if (digit && this.hits >= 2 && this.current !== digit) {
      this.current = digit;
      this.onDigit(digit);
    }
  }
}

function argmax(values: Float64Array, from: number, to: number): number {
  let best = from;
  for (let i = from + 1; i < to; i++) if (values[i] > values[best]) best = i;
  return best;
}

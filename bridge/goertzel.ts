/**
 * Goertzel filter: the DFT at one frequency over a block of samples, O(n) and allocation-free.
 * The product's one copy (AMD, ringback gate, DTMF detector); the twin keeps its own
 * (twin/caller/analysis.ts) so that it never depends on the product it checks.
 *
 * Powers are normalised so that a sinusoid of amplitude A at the frequency gives A² whatever the
 * block length: a full-scale sine ≈ 1 on samples in -1..1. A sinusoid's mean square is A²/2,
 * so "share of the block's energy at f" is power / 2 / (mean square).
 * `dc` is subtracted from every sample (a frame's mean, so an offset does not leak into the bin).
 */

/** The recurrence coefficient for `hz` at `sampleRate`: 2·cos ω with ω = 2π·hz / sampleRate. */
export function goertzelCoeff(hz: number, sampleRate: number): number {
  return 2 * Math.cos((2 * Math.PI * hz) / sampleRate);
}

/** Power at the coefficient's frequency over x[from, to), normalised as in the header. */
export function goertzelPower(x: ArrayLike<number>, coeff: number, from = 0, to = x.length, dc = 0): number {
  recur(x, coeff, from, to, dc);
  const s1 = S1;
  const s2 = S2;
  const n = to - from;
  return (4 * (s1 * s1 + s2 * s2 - coeff * s1 * s2)) / (n * n);
}

/**
 * goertzelPower through a Hann window over x[from, to), normalised the same way (the window's
 * gain divided out). The window's sidelobes fall fast, so a strong tone nearby hardly leaks into
 * the bin. The window comes from a rotating phasor, not a table: nothing to allocate per length.
 */
export function goertzelHannPower(x: ArrayLike<number>, coeff: number, from = 0, to = x.length, dc = 0): number {
  const n = to - from;
  const step = (2 * Math.PI) / n;
  const cs = Math.cos(step);
  const sn = Math.sin(step);
  let pc = Math.cos(step / 2); // cos(2π(i + ½)/n)
  let ps = Math.sin(step / 2);
  let s1 = 0;
  let s2 = 0;
  let sumW = 0;
  for (let i = from; i < to; i++) {
    const win = 0.5 - 0.5 * pc;
    sumW += win;
    const s0 = win * (x[i] - dc) + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
    const t = pc * cs - ps * sn;
    ps = ps * cs + pc * sn;
    pc = t;
  }
  return (4 * (s1 * s1 + s2 * s2 - coeff * s1 * s2)) / (sumW * sumW);
}

/** A complex DFT bin, written in place by goertzelBin. */
export interface GoertzelBin {
  re: number;
  im: number;
}

/**
 * The complex bin over x[from, to) into `out`, for phase measurements: s1 − e^(−iω)·s2, which is
 * the DFT Σ x[from + k]·e^(−iωk) times e^(iω(n−1)). That factor depends only on ω and the length,
 * so the phases of equal-length blocks compare directly.
 */
export function goertzelBin(x: ArrayLike<number>, coeff: number, from: number, to: number, dc: number, out: GoertzelBin): void {
  recur(x, coeff, from, to, dc);
  const s1 = S1;
  const s2 = S2;
  const cos = coeff / 2;
  out.re = s1 - cos * s2;
  out.im = Math.sqrt(Math.max(0, 1 - cos * cos)) * s2; // sin ω, ω in [0, π]
}

// The recurrence's last two states, left here by recur(): two numbers, so nothing is allocated per call.
let S1 = 0;
let S2 = 0;

/** Runs s[i] = x[i] − dc + coeff·s[i−1] − s[i−2] over x[from, to). */
function recur(x: ArrayLike<number>, coeff: number, from: number, to: number, dc: number): void {
  let s1 = 0;
  let s2 = 0;
  for (let i = from; i < to; i++) {
    const s0 = x[i] - dc + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  S1 = s1;
  S2 = s2;
}

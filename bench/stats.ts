/** Small statistics for the bench: percentiles, least-squares slope, rounding. */

/** Percentile by linear interpolation between closest ranks (p in 0..100). NaN for no data. */
export function percentile(values: readonly number[], p: number): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const rank = (p / 100) * (v.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return v[lo] + (v[hi] - v[lo]) * (rank - lo);
}

export const median = (values: readonly number[]): number => percentile(values, 50);

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p95: number;
  max: number;
}

export function summarize(values: readonly number[]): Summary {
  const v = values.filter((x) => Number.isFinite(x));
  return { n: v.length, min: v.length ? Math.min(...v) : NaN, p50: percentile(v, 50), p95: percentile(v, 95), max: v.length ? Math.max(...v) : NaN };
}

/** Least-squares line through (x, y): slope and intercept. */
export function linearFit(points: ReadonlyArray<readonly [number, number]>): { slope: number; intercept: number } {
  const n = points.length;
  if (n < 2) return { slope: NaN, intercept: n ? points[0][1] : NaN };
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  const slope = sxx === 0 ? NaN : sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

/**
 * Least-squares plane through (x1, x2, y): the slope along x1 with x2 held fixed (and along x2).
 * When x2 does not vary, it is the simple slope along x1.
 */
export function linearFit2(points: ReadonlyArray<readonly [number, number, number]>): { slope1: number; slope2: number } {
  const n = points.length;
  if (n < 3) return { slope1: linearFit(points.map(([x1, , y]) => [x1, y] as const)).slope, slope2: NaN };
  const m = [0, 1, 2].map((k) => points.reduce((s, p) => s + p[k], 0) / n);
  // Centred sums of squares and products.
  let s11 = 0;
  let s22 = 0;
  let s12 = 0;
  let s1y = 0;
  let s2y = 0;
  for (const [x1, x2, y] of points) {
    const [a, b, c] = [x1 - m[0], x2 - m[1], y - m[2]];
    s11 += a * a;
    s22 += b * b;
    s12 += a * b;
    s1y += a * c;
    s2y += b * c;
  }
  const det = s11 * s22 - s12 * s12;
  // x2 (nearly) constant, or in lockstep with x1: nothing to separate.
  if (s22 === 0 || Math.abs(det) < 1e-9 * s11 * s22) return { slope1: s11 === 0 ? NaN : s1y / s11, slope2: NaN };
  return { slope1: (s1y * s22 - s2y * s12) / det, slope2: (s2y * s11 - s1y * s12) / det };
}

export const round = (x: number, digits = 1): number => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : x);

export function fmt(x: number | undefined, digits = 0): string {
  if (x === undefined || !Number.isFinite(x)) return "n/a";
  return x.toFixed(digits);
}

/** Epoch milliseconds with sub-millisecond resolution, comparable across processes (same wall clock). */
export const nowMs = (): number => performance.timeOrigin + performance.now();

/**
 * Continuity of a tone sequence on a fixed grid (e.g. 600, 1000, 1400 Hz, 400 ms each, repeated)
 * as a pipeline received it, measured by sample counts rather than phase: every change of tone
 * must fall on one grid (first change + k × segment). Silence that replaced lost audio keeps
 * the grid; a duplicated or dropped 20 ms frame moves every later change by 20 ms off it.
 */
import { goertzel } from "../../twin/caller/analysis.ts";

export interface ToneGrid {
  /** Per segment after the first change: the tone most windows carried, and how many did. */
  segments: Array<{ hz: number; share: number }>;
  /** Changes of tone found, and the most any lies off one common grid (ms): 0 for a perfect grid. */
  changes: number;
  offGridMs: number;
}

const WINDOW_MS = 10;
const HOP_MS = 2.5;

/** Which of `tones` a window carries alone (20 dB over the others, above -40 dBFS), or -1. */
function classify(samples: ArrayLike<number>, from: number, length: number, rate: number, tones: number[]): number {
  const p = tones.map((hz) => goertzel(samples, from, length, hz, rate));
  let best = 0;
  for (let i = 1; i < p.length; i++) if (p[i] > p[best]) best = i;
  if (p[best] < 1e-4) return -1;
  return p.every((v, i) => i === best || v * 100 < p[best]) ? best : -1;
}

export function toneGrid(samples: ArrayLike<number>, rate: number, tones: number[], segmentMs: number): ToneGrid {
  const win = Math.round((rate * WINDOW_MS) / 1000);
  const hop = Math.round((rate * HOP_MS) / 1000);
  const seg = (rate * segmentMs) / 1000;
  const cls: Array<{ center: number; tone: number }> = [];
  for (let from = 0; from + win <= samples.length; from += hop) {
    const tone = classify(samples, from, win, rate, tones);
    if (tone >= 0) cls.push({ center: from + win / 2, tone });
  }
  // A change lies between the last window of one tone and the first of the next.
  const bounds: Array<{ lo: number; hi: number; to: number }> = [];
  for (let i = 1; i < cls.length; i++) if (cls[i].tone !== cls[i - 1].tone) bounds.push({ lo: cls[i - 1].center, hi: cls[i].center, to: cls[i].tone });
  if (bounds.length === 0) return { segments: [], changes: 0, offGridMs: Infinity };
  // The k-th change is expected at b0 + k × seg (k from the changes' spacing): the tightest b0 for all.
  const first = bounds[0];
  let lo = -Infinity;
  let hi = Infinity;
  for (const b of bounds) {
    const k = Math.round((b.lo - first.lo) / seg);
    lo = Math.max(lo, b.lo - k * seg);
    hi = Math.min(hi, b.hi - k * seg);
  }
  const offGridMs = lo <= hi ? 0 : ((lo - hi) * 1000) / rate;
  const segments = bounds.slice(0, -1).map((b, i) => {
    const inside = cls.filter((c) => c.center > b.hi && c.center < bounds[i + 1].lo);
    const share = inside.filter((c) => c.tone === b.to).length / Math.max(1, inside.length);
    return { hz: tones[b.to], share };
  });
  return { segments, changes: bounds.length, offGridMs };
}

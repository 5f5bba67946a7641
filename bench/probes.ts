/**
 * Bench-only timing probes in the host process, through the product's media hook
 * (bridge/probe.ts). They split each direction's latency at the host:
 *
 *  - agent audio pushed into playout: when the host got it from the pipeline, and its position;
 *  - each caller frame: the page's `consumed` counter as it arrives, from which the moment the
 *    page consumed a given sample is estimated;
 *  - a clear: when the host handled it;
 *  - caller audio forwarded: when the host sent the frame holding a caller tone onset (either
 *    pipeline profile).
 *
 * Probes record only while `probes.enabled` (one call at a time); the caller-frame gap counter
 * is always on and costs O(1) per frame.
 */
import { renderQuantum } from "../bridge/page-frames.ts";
import { setMediaProbe, type MediaProbe, type PlayoutProbeView, type SessionProbeView } from "../bridge/probe.ts";
import { OnsetDetector } from "./audio.ts";
import { nowMs } from "./stats.ts";

export interface PlayoutTrace {
  rate: number;
  pushes: Array<{ atMs: number; pos: number; n: number }>;
  frames: Array<{ atMs: number; consumed: number; sent: number }>;
  clears: number[];
  /** Longest time between two caller frames reaching the host (always on). */
  longestFrameGapMs: number;
  /** When the longest wait ended (epoch ms). */
  longestFrameGapAtMs: number;
  framesOver60ms: number;
  lastFrameAtMs: number;
}

export interface SessionTrace {
  rate: number;
  detector: OnsetDetector | undefined;
  onsets: Array<{ atMs: number; sample: number }>;
}

export const probes = {
  enabled: false,
  /** Tone whose onsets the host-side detector looks for in caller audio. */
  detectHz: 1000,
  playouts: new WeakMap<PlayoutProbeView, PlayoutTrace>(),
  sessions: new WeakMap<SessionProbeView, SessionTrace>(),
};

function playoutTrace(p: PlayoutProbeView): PlayoutTrace {
  let t = probes.playouts.get(p);
  if (!t) {
    t = { rate: p.sampleRate, pushes: [], frames: [], clears: [], longestFrameGapMs: 0, longestFrameGapAtMs: 0, framesOver60ms: 0, lastFrameAtMs: 0 };
    probes.playouts.set(p, t);
  }
  return t;
}

const benchProbe: MediaProbe = {
  onAgentPushed(p, pcm) {
    if (probes.enabled) playoutTrace(p).pushes.push({ atMs: nowMs(), pos: p.pushed, n: pcm.length });
  },
  onCallerFrame(p) {
    const at = nowMs();
    const t = playoutTrace(p);
    if (t.lastFrameAtMs) {
      const gap = at - t.lastFrameAtMs;
      if (gap > t.longestFrameGapMs) {
        t.longestFrameGapMs = gap;
        t.longestFrameGapAtMs = at;
      }
      if (gap > 60) t.framesOver60ms++;
    }
    t.lastFrameAtMs = at;
    if (probes.enabled) t.frames.push({ atMs: at, consumed: p.playedSamples, sent: p.sentSamples });
  },
  onClear(p) {
    if (probes.enabled) playoutTrace(p).clears.push(nowMs());
  },
  onCallerForwarded(s, pcm) {
    if (!probes.enabled) return;
    let t = probes.sessions.get(s);
    if (!t) probes.sessions.set(s, (t = { rate: s.sampleRate, detector: new OnsetDetector(probes.detectHz, s.sampleRate), onsets: [] }));
    const at = nowMs();
    for (const sample of t.detector!.push(pcm)) t.onsets.push({ atMs: at, sample });
  },
};

export function installProbes(): void {
  setMediaProbe(benchProbe);
}

/**
 * When the page consumed stream sample `pos`. The worklet plays render quanta (renderQuantum) and
 * stamps `consumed` into the caller frame it completes in the same quantum, so the first caller
 * frame whose `consumed` has passed `pos` was captured in the quantum that played `pos`, or
 * ⌊(consumed − pos − 1) / quantum⌋ quanta later (a quantum lasts quantum/rate). Biased late by the
 * page → host transit of that frame (≈ 1 ms on loopback); assumes quanta are rendered in real
 * time (Chrome renders them on its audio device clock, ± one device buffer).
 */
export function consumedAtMs(t: PlayoutTrace, pos: number): number | undefined {
  const f = t.frames.find((x) => x.consumed > pos);
  if (!f) return undefined;
  const q = renderQuantum(t.rate);
  const quanta = Math.floor((f.consumed - pos - 1) / q);
  return f.atMs - (quanta * q * 1000) / t.rate;
}

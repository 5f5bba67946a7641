/**
 * Bench-only timing probes in the host process, by wrapping methods of the product's classes at
 * run time (no product file is changed). They split each direction's latency at the host:
 *
 *  - `Playout.push`: when the host got agent audio from the pipeline, and its stream position;
 *  - `Playout.onCallerFrame`: the page's `consumed` counter as each caller frame arrives, from
 *    which the moment the page consumed a given sample is estimated;
 *  - `Playout.clear`: when the host handled a clear;
 *  - `TwilioSession.sendCallerAudio`: when the host forwarded the frame holding a caller tone onset.
 *
 * Probes record only while `probes.enabled` (one call at a time); the caller-frame gap counter
 * is always on and costs O(1) per frame.
 */
import { Playout } from "../bridge/playout.ts";
import { TwilioSession } from "../bridge/pipeline/twilio.ts";
import type { CallerFrameHeader } from "../bridge/page-protocol.ts";
import type { Host } from "../host/host.ts";
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

interface PlayoutInternals {
  opts: { sampleRate: number };
  pushed: number;
  sent: number;
  consumed: number;
}

interface StreamInternals {
  playout: Playout;
  session: TwilioSession | undefined;
}

export const probes = {
  enabled: false,
  /** Tone whose onsets the host-side detector looks for in caller audio. */
  detectHz: 1000,
  playouts: new WeakMap<Playout, PlayoutTrace>(),
  sessions: new WeakMap<TwilioSession, SessionTrace>(),
};

function playoutTrace(p: Playout): PlayoutTrace {
  let t = probes.playouts.get(p);
  if (!t) {
    t = { rate: (p as unknown as PlayoutInternals).opts.sampleRate, pushes: [], frames: [], clears: [], longestFrameGapMs: 0, longestFrameGapAtMs: 0, framesOver60ms: 0, lastFrameAtMs: 0 };
    probes.playouts.set(p, t);
  }
  return t;
}

let installed = false;

export function installProbes(): void {
  if (installed) return;
  installed = true;
  const push = Playout.prototype.push;
  Playout.prototype.push = function (this: Playout, pcm: Int16Array) {
    if (probes.enabled) playoutTrace(this).pushes.push({ atMs: nowMs(), pos: (this as unknown as PlayoutInternals).pushed, n: pcm.length });
    return push.call(this, pcm);
  };
  const onCallerFrame = Playout.prototype.onCallerFrame;
  Playout.prototype.onCallerFrame = function (this: Playout, header: CallerFrameHeader) {
    const r = onCallerFrame.call(this, header);
    const at = nowMs();
    const t = playoutTrace(this);
    if (t.lastFrameAtMs) {
      const gap = at - t.lastFrameAtMs;
      if (gap > t.longestFrameGapMs) {
        t.longestFrameGapMs = gap;
        t.longestFrameGapAtMs = at;
      }
      if (gap > 60) t.framesOver60ms++;
    }
    t.lastFrameAtMs = at;
    if (probes.enabled) {
      const i = this as unknown as PlayoutInternals;
      t.frames.push({ atMs: at, consumed: i.consumed, sent: i.sent });
    }
    return r;
  };
  const clear = Playout.prototype.clear;
  Playout.prototype.clear = function (this: Playout) {
    if (probes.enabled) playoutTrace(this).clears.push(nowMs());
    return clear.call(this);
  };
  const sendCallerAudio = TwilioSession.prototype.sendCallerAudio;
  TwilioSession.prototype.sendCallerAudio = function (this: TwilioSession, pcm: Int16Array) {
    const r = sendCallerAudio.call(this, pcm);
    if (probes.enabled) {
      let t = probes.sessions.get(this);
      if (!t) probes.sessions.set(this, (t = { rate: this.sampleRate, detector: new OnsetDetector(probes.detectHz, this.sampleRate), onsets: [] }));
      const at = nowMs();
      for (const sample of t.detector!.push(pcm)) t.onsets.push({ atMs: at, sample });
    }
    return r;
  };
}

/** The playout and pipeline session of a live call on the host (undefined once it has ended). */
export function callInternals(host: Host, telephonySessionId: string): { playout: Playout; session: TwilioSession | undefined } | undefined {
  const stream = host.calls.byTelephonySession(telephonySessionId)?.stream as unknown as StreamInternals | undefined;
  return stream ? { playout: stream.playout, session: stream.session } : undefined;
}

/**
 * When the page consumed stream sample `pos`. The worklet plays 128-sample render quanta and
 * stamps `consumed` into the caller frame it completes in the same quantum, so the first caller
 * frame whose `consumed` has passed `pos` was captured in the quantum that played `pos`, or
 * ⌊(consumed − pos − 1) / 128⌋ quanta later (a quantum lasts 128/rate). Biased late by the
 * page → host transit of that frame (≈ 1 ms on loopback); assumes quanta are rendered in real
 * time (Chrome renders them on its audio device clock, ± one device buffer).
 */
export function consumedAtMs(t: PlayoutTrace, pos: number): number | undefined {
  const f = t.frames.find((x) => x.consumed > pos);
  if (!f) return undefined;
  const quanta = Math.floor((f.consumed - pos - 1) / 128);
  return f.atMs - (quanta * 128 * 1000) / t.rate;
}

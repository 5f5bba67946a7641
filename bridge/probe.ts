/**
 * A typed hook into the media path for measurement (the bench: bench/probes.ts). The product
 * calls `mediaProbe?.onX(…)` at a few fixed points; with no probe set that is one `undefined`
 * check, and the arguments are never evaluated, so nothing is allocated per frame.
 *
 * The views below are what a probe may read: the objects passed are the product's own (a
 * Playout, a pipeline session), so a probe can key per-call state on them, but it sees only
 * read-only counters. `CallStream.probeTargets` maps a call to the same objects.
 */

/** What a probe sees of a Playout (bridge/playout.ts). Positions are samples since the call's start. */
export interface PlayoutProbeView {
  readonly sampleRate: number;
  /** Samples the pipeline pushed in all: before `onAgentPushed` returns, where the new audio starts. */
  readonly pushed: number;
  /** Samples handed to the page. */
  readonly sentSamples: number;
  /** Samples the page has consumed (played or cleared), as its last caller frame said. */
  readonly playedSamples: number;
  /** Holes the page has reported so far (the call's underruns while it is up). */
  readonly underruns: number;
}

/** What a probe sees of a pipeline session (bridge/pipeline/*). */
export interface SessionProbeView {
  readonly sampleRate: number;
}

export interface MediaProbe {
  /** Agent audio from the pipeline reached playout, before it is queued (`playout.pushed` is its position). */
  onAgentPushed(playout: PlayoutProbeView, pcm: Int16Array): void;
  /** Playout has taken in a caller frame's counters (the page's consumed position, its holes). */
  onCallerFrame(playout: PlayoutProbeView): void;
  /** Playout is about to drop everything not yet played. */
  onClear(playout: PlayoutProbeView): void;
  /** The session has sent 20 ms of caller audio to the pipeline. */
  onCallerForwarded(session: SessionProbeView, pcm: Int16Array): void;
}

/** The probe in force, if any: one per process (the bench sets it before any call). */
export let mediaProbe: MediaProbe | undefined;

export function setMediaProbe(probe: MediaProbe | undefined): void {
  mediaProbe = probe;
}

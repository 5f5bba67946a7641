import { basename } from "node:path";
import { callParties, type Call } from "./calls.ts";
import type { HostStatus } from "./host.ts";

/** What the status page needs of the host. */
export interface StatusSource {
  status(): HostStatus;
  calls: { list(): Call[]; active(): Call[]; onChange(listener: (call: Call) => void): void };
}

/** One call as the status page shows it: no ids of RingCentral's, no paths, no parameters. */
export interface StatusCall {
  id: string;
  direction: Call["direction"];
  from: string;
  fromName: string | null;
  to: string;
  state: Call["state"];
  codec: string | null;
  /** Since the answer (or since it began ringing), to its end or now. */
  durationMs: number;
  callerLevelDbfs: number | null;
  agentLevelDbfs: number | null;
  /** Latency: agent audio queued for playout (live calls), and the pipeline connection's ping round trip (last measured). */
  playoutBufferMs: number | null;
  pipelineRttMs: number | null;
  underruns: number | null;
  /** How the call sounds as Chrome receives it (the last WebRTC sample): null before the first. */
  quality: StatusQuality | null;
  amd: string | null;
  transferTarget: string | null;
  endReason: string | null;
  endedAtMs: number | null;
  /** The recording's file name in RECORDINGS_DIR (never its directory). */
  recording: string | null;
}

export interface StatusQuality {
  jitterMs: number;
  /** Packets lost, in % of those sent. */
  lossPct: number;
  rttMs: number | null;
  jitterBufferMs: number | null;
  /** Audio Chrome made up for lost or late packets, in % of what it played. */
  concealedPct: number | null;
}

const pct = (f: number) => Math.round(f * 1000) / 10;

export interface StatusSnapshot {
  host: HostStatus;
  live: StatusCall[];
  ended?: StatusCall[];
  atMs: number;
}

/** Ended calls the page lists, newest first. */
export const RECENT_ENDED = 10;

export function statusCall(call: Call, nowMs: number): StatusCall {
  const stats = call.stream?.stats ?? call.streamStats;
  const from = call.answeredAtMs ?? call.createdAtMs;
  return {
    ...callParties(call),
    durationMs: Math.max(0, (call.endedAtMs ?? nowMs) - from),
    callerLevelDbfs: call.stream ? stats!.callerLevelDbfs : null,
    agentLevelDbfs: call.stream ? stats!.agentLevelDbfs : null,
    playoutBufferMs: call.stream ? stats!.playoutBufferMs : null,
    pipelineRttMs: stats?.pipelineRttMs ?? null,
    underruns: stats?.underruns ?? null,
    quality: call.quality
      ? {
          jitterMs: call.quality.jitterMs,
          lossPct: pct(call.quality.lossFraction),
          rttMs: call.quality.rttMs,
          jitterBufferMs: call.quality.jitterBufferMs,
          concealedPct: call.quality.concealedFraction === null ? null : pct(call.quality.concealedFraction),
        }
      : null,
    amd: call.amd ? `${call.amd.result} (${call.amd.reason})` : null,
    transferTarget: call.transferTarget ?? null,
    endReason: call.endReason ?? null,
    endedAtMs: call.endedAtMs ?? null,
    recording: call.recording ? basename(call.recording.path) + (call.recording.failed ? " (incomplete)" : "") : null,
  };
}

/** The page's state: the host, its live calls, and (when asked) the recent ended ones. */
export function statusSnapshot(source: StatusSource, withEnded: boolean, nowMs = Date.now()): StatusSnapshot {
  const live = source.calls.active().map((c) => statusCall(c, nowMs));
  if (!withEnded) return { host: source.status(), live, atMs: nowMs };
  const ended = source.calls
    .list()
    .filter((c) => c.state === "ended")
    .sort((a, b) => (b.endedAtMs ?? 0) - (a.endedAtMs ?? 0))
    .slice(0, RECENT_ENDED)
    .map((c) => statusCall(c, nowMs));
  return { host: source.status(), live, ended, atMs: nowMs };
}

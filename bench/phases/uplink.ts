/**
 * 2d. Caller → pipeline on both uplinks side by side (`UPLINK=buffered` and `fast`, a host each),
 * on a clean link and on one the twin makes lossy and jittery: what the jitter buffer costs, and
 * what the fast path does with loss and reordering.
 */
import type { Host } from "../../host/host.ts";
import type { Params } from "../params.ts";
import { probes } from "../probes.ts";
import { progress, sleep, type Profile, type Stack } from "../stack.ts";
import { fmt, median, summarize, type Summary } from "../stats.ts";
import { uplinkPath } from "./latency.ts";

/** The impaired link: each caller RTP packet lost with this rate, else delayed uniformly in [min, max]. */
export const IMPAIRED = { lossRate: 0.02, delayMs: { min: 0, max: 40 } };

export interface UplinkRun {
  uplink: string;
  link: "clean" | "impaired";
  summary: Summary;
  missed: number;
  /** The twin's counts for the caller's RTP over the call. */
  packetsLost: number;
  packetsReordered: number;
  /** Holes the fast uplink filled with silence (0 on the buffered path, which conceals instead). */
  gapsFilled: number;
}

export async function benchUplink(s: Stack, host: Host, profile: Profile, uplink: string, P: Params): Promise<UplinkRun[]> {
  const HZ = 1000;
  const everyMs = 500;
  // Long enough a quiet start that the link is impaired before the first burst.
  const callerStartMs = 2000;
  const count = P.bursts;
  const runs: UplinkRun[] = [];
  for (const link of ["clean", "impaired"] as const) {
    const play = [`silence/${callerStartMs}`, ...Array.from({ length: count }, () => `tone:${HZ}/100,silence/${everyMs - 100}`)].join(",");
    probes.enabled = true;
    probes.detectHz = HZ;
    // The pipeline only listens: a long lead-in keeps its bursts off the call.
    const call = await s.placeCall(host, play, { kind: "latency", hz: HZ, burstMs: 100, everyMs, count: 0, leadInMs: 60_000, detectHz: HZ });
    if (link === "impaired") await s.twin.fault(`/calls/${call.placed.callId}/media/link`, IMPAIRED);
    await sleep(callerStartMs + count * everyMs + 600);
    probes.enabled = false;
    const live = host.calls.byTelephonySession(call.placed.telephonySessionId);
    const gapsFilled = live?.stream?.stats.uplink.gaps ?? 0;
    const counts = await s.twin.link(call.placed.callId);
    await s.hangupAll(host, [call]);
    const report = await s.pipeline.report(call.from);
    const view = await s.twin.call(call.placed.callId);
    const rec = await s.twin.recording(call.placed.callId);
    const up = uplinkPath(report, rec, view.caller.connectedAtMs!, callerStartMs, everyMs, count);
    runs.push({ uplink, link, summary: summarize(up.total), missed: up.missed, packetsLost: counts.packetsLost, packetsReordered: counts.packetsReordered, gapsFilled });
    progress(`uplink ${profile.name} ${uplink} ${link}: caller→pipeline p50 ${fmt(median(up.total))} ms, ${up.missed} missed, ${counts.packetsLost} lost, ${counts.packetsReordered} reordered, ${gapsFilled} gaps filled`);
    await sleep(500);
  }
  return runs;
}

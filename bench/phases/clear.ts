/** 3. clear → silence: a long tone from the pipeline, cut by `clear`, timed in the caller's recording. */
import { renderQuantum } from "../../bridge/page-frames.ts";
import type { Host } from "../../host/host.ts";
import { blockPowers, localAnchor, offsetAfter } from "../audio.ts";
import type { Params } from "../params.ts";
import { probes } from "../probes.ts";
import { progress, sleep, type Profile, type Stack } from "../stack.ts";
import { fmt, median, round, summarize, type Summary } from "../stats.ts";
import { playoutPath } from "./latency.ts";

export interface ClearResult {
  ms: number[];
  summary: Summary;
  pipelineToHost: Summary;
  /** The same call's page → caller path, from each tone's onset (median per call). */
  sendPathMs: number[];
  /** clear → silence minus the pipeline → host transit and the call's page → caller path. */
  pageOnlyEstimate: Summary;
  quantumMs: number;
  missed: number;
  /** Reps left out because the recording put silence at the caller before the clear reached the host. */
  unanchored: number;
}

export async function benchClear(s: Stack, host: Host, profile: Profile, P: Params): Promise<ClearResult> {
  const HZ = 700;
  const gapMs = 600;
  const leadInMs = 800;
  const ms: number[] = [];
  const toHost: number[] = [];
  const pageOnly: number[] = [];
  const sendPaths: number[] = [];
  let missed = 0;
  let unanchored = 0;
  const perCall = Math.ceil(P.clears / P.clearCalls);
  for (let n = 0; n < P.clearCalls; n++) {
    // Spread the clear over the render quantum's phase: a fixed spacing could always land alike.
    const clearAfterMs = Array.from({ length: perCall }, (_, i) => 900 + (((n * perCall + i) * 137) % 500));
    probes.enabled = true;
    const call = await s.placeCall(host, "silence", { kind: "clear", hz: HZ, toneMs: 3000, clearAfterMs, gapMs, leadInMs });
    await sleep(leadInMs + clearAfterMs.reduce((x, y) => x + y + gapMs, 0) + 500);
    probes.enabled = false;
    await s.hangupAll(host, [call]);
    const report = await s.pipeline.report(call.from);
    const rec = await s.twin.recording(call.placed.callId);
    const powers = blockPowers(rec.samples, rec.rate, HZ);
    // Each figure is placed with the anchor of the audio around it (localAnchor): the sender's
    // RTP clock can slip against the wall clock within a call, by tens of ms.
    const callPaths: number[] = [];
    report.clearsSentAtMs.forEach((sent, i) => {
      const anchor = localAnchor(rec, sent);
      const off = offsetAfter(powers, sent - anchor - 100, sent - anchor + 500, 100);
      if (off === undefined) {
        missed++;
        return;
      }
      const total = anchor + off - sent;
      const handled = call.playout.clears[i];
      // Silence before the clear reached the host: the recording is misplaced here, whatever
      // the anchor. Counted, not averaged in (it would pull the figure down by as much).
      if (handled === undefined || total < handled - sent) {
        unanchored++;
        return;
      }
      ms.push(total);
      toHost.push(handled - sent);
      // This tone's own send path (page → caller), from its onset, placed likewise.
      const toneAt = report.tonesSentAtMs[i];
      const path = toneAt === undefined ? undefined : playoutPath([toneAt], powers, localAnchor(rec, toneAt), call.playout).toCaller[0];
      if (path !== undefined && path > 0) {
        callPaths.push(path);
        pageOnly.push(total - (handled - sent) - path);
      }
    });
    const sendPath = median(callPaths);
    sendPaths.push(round(sendPath, 1));
    progress(`clear ${profile.name} call ${n + 1}: p50 ${fmt(median(ms.slice(-perCall)))} ms (send path ${fmt(sendPath, 1)} ms)`);
  }
  const quantumMs = (renderQuantum(profile.rate) * 1000) / profile.rate;
  return { ms: ms.map((x) => round(x)), summary: summarize(ms), pipelineToHost: summarize(toHost), sendPathMs: sendPaths, pageOnlyEstimate: summarize(pageOnly), quantumMs, missed, unanchored };
}

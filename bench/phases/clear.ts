/** 3. clear → silence: a long tone from the pipeline, cut by `clear`, timed in the caller's recording. */
import { renderQuantum } from "../../bridge/page-frames.ts";
import type { Host } from "../../host/host.ts";
import { blockPowers, offsetAfter } from "../audio.ts";
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
  /** Calls left out because their recording's anchor put audio at the caller before the page played it. */
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
    const startedAt = rec.anchorMs ?? rec.startedAtMs!;
    const powers = blockPowers(rec.samples, rec.rate, HZ);
    // This call's send path (page → caller), from the onset of each of its tones.
    const onsets = playoutPath(report.tonesSentAtMs, powers, startedAt, call.playout);
    const sendPath = median(onsets.toCaller);
    sendPaths.push(round(sendPath, 1));
    // Audio heard before the page played it: this recording's anchor is off (seen on Opus calls,
    // by tens of ms), and so would be every figure from it. Counted, not averaged in.
    if (!(sendPath > 0)) {
      unanchored++;
      progress(`clear ${profile.name} call ${n + 1}: send path ${fmt(sendPath, 1)} ms, impossible: the recording's anchor is off, call left out`);
      continue;
    }
    report.clearsSentAtMs.forEach((sent, i) => {
      const rel = sent - startedAt;
      const off = offsetAfter(powers, rel - 100, rel + 500, 100);
      if (off === undefined) {
        missed++;
        return;
      }
      const total = startedAt + off - sent;
      ms.push(total);
      const handled = call.playout.clears[i];
      if (handled !== undefined) {
        toHost.push(handled - sent);
        pageOnly.push(total - (handled - sent) - sendPath);
      }
    });
    progress(`clear ${profile.name} call ${n + 1}: p50 ${fmt(median(ms.slice(-perCall)))} ms (send path ${fmt(sendPath, 1)} ms)`);
  }
  const quantumMs = (renderQuantum(profile.rate) * 1000) / profile.rate;
  return { ms: ms.map((x) => round(x)), summary: summarize(ms), pipelineToHost: summarize(toHost), sendPathMs: sendPaths, pageOnlyEstimate: summarize(pageOnly), quantumMs, missed, unanchored };
}

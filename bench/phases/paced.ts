/**
 * 2c. Pipeline → caller with a pipeline that streams in real time from `start` (an echo, a paced
 * TTS): the frames it sends before the call's media is up must not stay a queue for the whole call.
 */
import type { Host } from "../../host/host.ts";
import { blockPowers } from "../audio.ts";
import type { Params } from "../params.ts";
import { probes } from "../probes.ts";
import { progress, sleep, type Profile, type Stack } from "../stack.ts";
import { fmt, median, summarize, type Summary } from "../stats.ts";
import { playoutPath } from "./latency.ts";

export interface PacedResult {
  calls: number;
  /** Bursts sent this long after `start` or later count: the first seconds hold the set-up backlog. */
  afterMs: number;
  ms: number[];
  summary: Summary;
  /** The same, over every burst (the set-up backlog included). */
  all: Summary;
  missed: number;
}

export async function benchPaced(s: Stack, host: Host, profile: Profile, P: Params): Promise<PacedResult> {
  const HZ = 1000;
  const afterMs = 2000;
  const everyMs = 500;
  const perCall = Math.ceil(P.bursts / P.latencyCalls) + Math.ceil(afterMs / everyMs);
  const kept: number[] = [];
  const all: number[] = [];
  let missed = 0;
  for (let n = 0; n < P.latencyCalls; n++) {
    probes.enabled = true;
    probes.detectHz = HZ;
    // The caller is quiet; the pipeline paces 20 ms frames from `start`, bursts from 1 s on.
    const call = await s.placeCall(host, "silence/60000", { kind: "latency", hz: HZ, burstMs: 100, everyMs, count: perCall, leadInMs: 1000, detectHz: HZ, paced: true });
    await sleep(1000 + perCall * everyMs + 600);
    probes.enabled = false;
    await s.hangupAll(host, [call]);
    const report = await s.pipeline.report(call.from);
    const view = await s.twin.call(call.placed.callId);
    const rec = await s.twin.recording(call.placed.callId);
    const startedAt = rec.anchorMs ?? rec.startedAtMs ?? view.heard!.startedAtMs!;
    const powers = blockPowers(rec.samples, rec.rate, HZ);
    const whole = playoutPath(report.burstsSentAtMs, powers, startedAt, call.playout);
    const late = playoutPath(report.burstsSentAtMs.filter((sent) => sent - report.startAtMs >= afterMs), powers, startedAt, call.playout);
    all.push(...whole.total);
    kept.push(...late.total);
    missed += late.missed;
    progress(`paced ${profile.name} call ${n + 1}: pipeline→caller p50 ${fmt(median(late.total))} ms from ${afterMs} ms after start, ${fmt(median(whole.total))} ms over the whole call`);
  }
  return { calls: P.latencyCalls, afterMs, ms: kept.map((x) => Math.round(x)), summary: summarize(kept), all: summarize(all), missed };
}

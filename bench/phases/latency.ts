/** 2. Per-direction latency: tone bursts each way, heard at the far end and split at the host's probes. */
import type { Host } from "../../host/host.ts";
import { blockPowers, onsetAfter } from "../audio.ts";
import { jitterBuffers, type JitterBuffer } from "../page.ts";
import type { Params } from "../params.ts";
import type { StreamReport } from "../pipeline.ts";
import { consumedAtMs, probes, type PlayoutTrace } from "../probes.ts";
import { loopMonitor, progress, sleep, type Profile, type Stack } from "../stack.ts";
import { fmt, median, round, summarize, type Summary } from "../stats.ts";

export interface LatencyResult {
  codecs: string[];
  /** Where the pipeline's caller audio was taken (the calls' `uplink` mode: buffered or fast). */
  uplinks: string[];
  calls: number;
  /** Per call: the twin's first-packet anchor minus the least-delayed-packet anchor used here (ms). */
  anchorCorrectionMs: number[];
  /** Chrome's jitter buffer on the caller's audio (average over each call). */
  jitterBuffer: JitterBuffer[];
  /** Time between caller frames reaching the host (the page's capture cadence). */
  frameIntervalMs: Summary;
  eventLoop: Array<{ maxMs: number; p99Ms: number }>;
  pipelineToCaller: { ms: number[]; summary: Summary; pipelineToHost: Summary; hostToPageConsumed: Summary; pageToCaller: Summary; missed: number };
  callerToPipeline: { ms: number[]; summary: Summary; callerToHost: Summary; hostToPipeline: Summary; framingMs: Summary; missed: number };
}

/** Pipeline → caller for each sent onset: heard in the recording, and split at the host's probes. */
export function playoutPath(sentAtMs: number[], powers: Float32Array, startedAt: number, trace: PlayoutTrace) {
  const out = { total: [] as number[], toHost: [] as number[], toPage: [] as number[], toCaller: [] as number[], missed: 0 };
  for (const sent of sentAtMs) {
    const rel = sent - startedAt;
    const onset = onsetAfter(powers, rel - 20, rel + 400, 50);
    if (onset === undefined) {
      out.missed++;
      continue;
    }
    const heard = startedAt + onset;
    out.total.push(heard - sent);
    const push = trace.pushes.find((p) => p.atMs >= sent - 5 && p.atMs < sent + 250);
    if (!push) continue;
    const consumed = consumedAtMs(trace, push.pos);
    out.toHost.push(push.atMs - sent);
    if (consumed !== undefined) {
      out.toPage.push(consumed - push.atMs);
      out.toCaller.push(heard - consumed);
    }
  }
  return out;
}

/**
 * Caller → pipeline for each of the caller's bursts, due at `callerStartMs + k·everyMs` on its
 * frame clock. The clock starts at its first frame's due time (≈ connectedAtMs); a frame the twin
 * sent late (its tick ran late) counts from when it really went.
 */
export function uplinkPath(
  report: StreamReport,
  rec: { firstDueMs?: number; lateMs?: Map<number, number> },
  connectedAtMs: number,
  callerStartMs: number,
  everyMs: number,
  count: number,
  atHostOnsets?: Array<{ atMs: number }>,
) {
  const out = { total: [] as number[], toHost: [] as number[], toPipeline: [] as number[], framing: [] as number[], missed: 0 };
  const clockZero = rec.firstDueMs ?? connectedAtMs;
  const frame = report.sampleRate / 50;
  for (let k = 0; k < count; k++) {
    const offset = callerStartMs + k * everyMs;
    const due = clockZero + offset + (rec.lateMs?.get(Math.round(offset / 20)) ?? 0);
    const got = report.onsets.find((o) => o.atMs >= due && o.atMs < due + 400);
    if (!got) {
      out.missed++;
      continue;
    }
    out.total.push(got.atMs - due);
    // The rest of the 20 ms frame after the onset had to be captured before the frame could go.
    out.framing.push(((frame - got.frameSample) * 1000) / report.sampleRate);
    const atHost = atHostOnsets?.find((o) => o.atMs >= due && o.atMs < due + 400);
    if (atHost) {
      out.toHost.push(atHost.atMs - due);
      out.toPipeline.push(got.atMs - atHost.atMs);
    }
  }
  return out;
}

export async function benchLatency(s: Stack, host: Host, profile: Profile, P: Params): Promise<LatencyResult> {
  const HZ = 1000;
  const leadInMs = 1500;
  const everyMs = 500;
  const burstMs = 100;
  const callerStartMs = 1000;
  const a = { total: [] as number[], toHost: [] as number[], toPage: [] as number[], toCaller: [] as number[], missed: 0 };
  const b = { total: [] as number[], toHost: [] as number[], toPipeline: [] as number[], framing: [] as number[], missed: 0 };
  const codecs = new Set<string>();
  const uplinks = new Set<string>();
  const jitter: LatencyResult["jitterBuffer"] = [];
  const loops: LatencyResult["eventLoop"] = [];
  const intervals: number[] = [];
  const anchorFix: number[] = [];
  // Several calls: each call has its own phase between the 20 ms frames, the render quanta and
  // the RTP packets, which shifts its latency by a few ms; one call would show only one phase.
  const perCall = Math.ceil(P.bursts / P.latencyCalls);
  for (let n = 0; n < P.latencyCalls; n++) {
    const play = ["silence/" + callerStartMs, ...Array.from({ length: perCall }, () => `tone:${HZ}/${burstMs},silence/${everyMs - burstMs}`)].join(",");
    probes.enabled = true;
    probes.detectHz = HZ;
    const loop = loopMonitor();
    const call = await s.placeCall(host, play, { kind: "latency", hz: HZ, burstMs, everyMs, count: perCall, leadInMs, detectHz: HZ });
    codecs.add(call.codec ?? "?");
    // The pipeline's bursts start leadInMs after its first caller frame; the caller's 1 s after connecting.
    await sleep(leadInMs + perCall * everyMs + 600);
    loops.push(loop());
    const session = call.targets.session ? probes.sessions.get(call.targets.session) : undefined;
    probes.enabled = false;
    jitter.push(...(await jitterBuffers(host).catch(() => [])));
    uplinks.add(host.calls.byTelephonySession(call.placed.telephonySessionId)?.stream?.stats.uplink.mode ?? "?");
    await s.hangupAll(host, [call]);
    const report = await s.pipeline.report(call.from);
    const view = await s.twin.call(call.placed.callId);
    const rec = await s.twin.recording(call.placed.callId);
    const startedAt = rec.anchorMs ?? rec.startedAtMs ?? view.heard!.startedAtMs!;
    anchorFix.push(round((rec.startedAtMs ?? startedAt) - startedAt, 1));

    // (a) pipeline → caller: each burst's onset in the caller's recording, 2.5 ms blocks.
    const one = playoutPath(report.burstsSentAtMs, blockPowers(rec.samples, rec.rate, HZ), startedAt, call.playout);
    a.total.push(...one.total);
    a.toHost.push(...one.toHost);
    a.toPage.push(...one.toPage);
    a.toCaller.push(...one.toCaller);
    a.missed += one.missed;

    // (b) caller → pipeline: the caller's bursts are due at its frame clock's zero + 1000 + k·500.
    const up = uplinkPath(report, rec, view.caller.connectedAtMs!, callerStartMs, everyMs, perCall, session?.onsets);
    b.total.push(...up.total);
    b.framing.push(...up.framing);
    b.toHost.push(...up.toHost);
    b.toPipeline.push(...up.toPipeline);
    b.missed += up.missed;
    const fr = call.playout.frames;
    intervals.push(...fr.slice(1).map((f, i) => f.atMs - fr[i].atMs));
    progress(`latency ${profile.name} call ${n + 1}: pipeline→caller p50 ${fmt(median(one.total))} ms, caller→pipeline p50 ${fmt(median(b.total.slice(-perCall)))} ms`);
  }
  return {
    codecs: [...codecs],
    uplinks: [...uplinks],
    calls: P.latencyCalls,
    anchorCorrectionMs: anchorFix,
    jitterBuffer: jitter,
    frameIntervalMs: summarize(intervals),
    eventLoop: loops,
    pipelineToCaller: { ms: a.total.map((x) => round(x)), summary: summarize(a.total), pipelineToHost: summarize(a.toHost), hostToPageConsumed: summarize(a.toPage), pageToCaller: summarize(a.toCaller), missed: a.missed },
    callerToPipeline: { ms: b.total.map((x) => round(x)), summary: summarize(b.total), callerToHost: summarize(b.toHost), hostToPipeline: summarize(b.toPipeline), framingMs: summarize(b.framing), missed: b.missed },
  };
}

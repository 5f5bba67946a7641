/** 5. 8 calls streaming both ways: underruns, gaps heard and at the pipeline, and the CDP check. */
import type { Host } from "../../host/host.ts";
import { longestGap, presence10ms } from "../audio.ts";
import { countCdpFrameEvents, setCdpNetwork } from "../page.ts";
import { TARGET, type Params } from "../params.ts";
import type { StreamReport } from "../pipeline.ts";
import type { GroupUsage } from "../procstat.ts";
import { describeUsage, loopMonitor, progress, sleep, type LiveCall, type Profile, type Stack, type Window } from "../stack.ts";
import { fmt, round } from "../stats.ts";

interface Gaps {
  /** Longest gap in the tone each caller heard (10 ms blocks). */
  heardMs: number[];
  /** Longest gap in the caller's tone as the pipeline received it (10 ms blocks). */
  pipelineMs: number[];
  /** Longest wait between two caller frames reaching the host. */
  hostFrameMs: number[];
  eventLoop: { maxMs: number; p99Ms: number };
}

export interface StreamResult {
  calls: number;
  codecs: string[];
  /** The steady part: from 2 s after the last call's media came up to just before the hang-ups. */
  steadyMs: number;
  underruns: number[];
  lostFrames: number[];
  /** Over the whole calls, set-up of the later calls included. */
  whole: Gaps;
  steady: Gaps;
  usage: Record<string, GroupUsage>;
  machine: Window["machine"];
  /**
   * Puppeteer enables the CDP Network domain on the page and on its media worker, so Chrome sends
   * the host a CDP event for every media WebSocket frame. Counted in the steady window, then the
   * same calls measured with the domain off on both sessions.
   */
  cdpOverhead?: { eventsPerS: number; kibPerS: number; on: Window; off: Window | undefined };
  /** ms after the first call was placed: placements, steady window, and where each call's longest heard gap started. */
  timeline: { placedAtMs: number[]; steadyFromMs: number; steadyToMs: number; heardGapAtMs: number[] };
}

export async function benchStream(s: Stack, host: Host, profile: Profile, n: number, P: Params): Promise<StreamResult> {
  const calls: LiveCall[] = [];
  const wholeLoop = loopMonitor();
  const origin = Date.now();
  const placedAtMs: number[] = [];
  for (let i = 0; i < n; i++) {
    placedAtMs.push(Date.now() - origin);
    calls.push(await s.placeCall(host, "tone:440", { kind: "stream", hz: 880, aheadMs: 1000, chunkMs: 500, detectHz: 440 }));
    await sleep(100);
  }
  await sleep(2000);
  const steadyFrom = Date.now();
  const wholeFrameGaps = calls.map((c) => c.playout.longestFrameGapMs);
  for (const c of calls) c.playout.longestFrameGapMs = 0;
  const steadyLoop = loopMonitor();
  await sleep(Math.min(3000, P.streamMs / 4));
  const cdp = P.cdpProfiles.includes(profile.name) ? countCdpFrameEvents(host) : undefined;
  const win = await s.measureWindow(host, Math.min(P.windowMs, P.streamMs / 2));
  const cdpEvents = cdp?.stop();
  progress(`stream ${profile.name}, ${n} calls: ${describeUsage(win)}`);
  await sleep(Math.max(0, P.streamMs - (Date.now() - steadyFrom)));
  const steadyTo = Date.now();
  // After the steady window: the same calls with the CDP Network domain off (a diagnostic; only
  // when Chrome does send the host an event per media frame).
  let cdpOverhead: StreamResult["cdpOverhead"];
  if (cdpEvents && cdpEvents.eventsPerS === 0) cdpOverhead = { ...cdpEvents, on: win, off: undefined };
  else if (cdpEvents) {
    await setCdpNetwork(host, false);
    const off = await s.measureWindow(host, P.cdpWindowMs);
    await setCdpNetwork(host, true);
    cdpOverhead = { ...cdpEvents, on: win, off };
    progress(`stream ${profile.name}: ${fmt(cdpEvents.eventsPerS)} CDP WebSocket-frame events/s; Network domain off: ${describeUsage(off)}`);
  }
  const steady: Gaps = { heardMs: [], pipelineMs: [], hostFrameMs: calls.map((c) => round(c.playout.longestFrameGapMs)), eventLoop: steadyLoop() };
  const whole: Gaps = { heardMs: [], pipelineMs: [], hostFrameMs: calls.map((c, i) => round(Math.max(wholeFrameGaps[i], c.playout.longestFrameGapMs))), eventLoop: wholeLoop() };
  await s.hangupAll(host, calls);
  const reports = await Promise.all(calls.map((c) => s.pipeline.report(c.from)));
  const result: StreamResult = {
    calls: n,
    codecs: [...new Set(calls.map((c) => c.codec ?? "?"))],
    steadyMs: steadyTo - steadyFrom,
    underruns: [],
    lostFrames: [],
    whole,
    steady,
    usage: win.usage,
    machine: win.machine,
    cdpOverhead,
    timeline: { placedAtMs, steadyFromMs: steadyFrom - origin, steadyToMs: steadyTo - origin, heardGapAtMs: [] },
  };
  const blockAt = (wallMs: number, zeroMs: number) => Math.round((wallMs - zeroMs) / 10);
  for (const [i, c] of calls.entries()) {
    result.underruns.push(host.calls.byTelephonySession(c.placed.telephonySessionId)?.streamStats?.underruns ?? NaN);
    const rec = await s.twin.recording(c.placed.callId);
    const heard = presence10ms(rec.samples, rec.rate, 880, -30);
    const w = longestGap(heard);
    whole.heardMs.push(w?.gapMs ?? NaN);
    result.timeline.heardGapAtMs.push(w && w.gapMs > 0 ? Math.round(rec.startedAtMs! + w.atMs - origin) : NaN);
    steady.heardMs.push(longestGap(heard, blockAt(steadyFrom, rec.startedAtMs!), blockAt(steadyTo, rec.startedAtMs!))?.gapMs ?? NaN);
    const rep: StreamReport = reports[i];
    const got = [...rep.callerPresence].map((x) => x === "1");
    whole.pipelineMs.push(longestGap(got)?.gapMs ?? NaN);
    steady.pipelineMs.push(longestGap(got, blockAt(steadyFrom, rep.firstMediaAtMs!), blockAt(steadyTo, rep.firstMediaAtMs!))?.gapMs ?? NaN);
    // The twin's call view analyses the whole recording (slow at 48 kHz): only asked when a gap needs explaining.
    const gapped = Math.max(whole.heardMs.at(-1)!, whole.pipelineMs.at(-1)!) > TARGET.gapMs;
    result.lostFrames.push(gapped ? ((await s.twin.call(c.placed.callId)).heard?.lostFrames ?? NaN) : NaN);
  }
  progress(`stream ${profile.name}: underruns ${result.underruns.join(",")}; heard gaps steady ${steady.heardMs.join(",")} ms, whole ${whole.heardMs.join(",")} ms`);
  return result;
}

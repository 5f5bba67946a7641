/** 5c. Does the underrun counter see a host stall? The host's event loop blocked during a streaming call. */
import type { Host } from "../../host/host.ts";
import { presence10ms } from "../audio.ts";
import { TARGET } from "../params.ts";
import { progress, sleep, type Stack } from "../stack.ts";

export interface StallResult {
  stallMs: number;
  stalls: number;
  /** Gaps over 60 ms the caller heard, ms. */
  gapsHeardMs: number[];
  underrunsCounted: number;
}

/** Blocks the host's event loop (this process) twice for 150 ms during a streaming call. */
export async function benchStall(s: Stack, host: Host): Promise<StallResult> {
  const stallMs = 150;
  const stalls = 2;
  const call = await s.placeCall(host, "tone:440", { kind: "stream", hz: 880, aheadMs: 1000, chunkMs: 500, detectHz: 440 });
  await sleep(2500);
  for (let i = 0; i < stalls; i++) {
    const end = performance.now() + stallMs;
    while (performance.now() < end);
    await sleep(1500);
  }
  await s.hangupAll(host, [call]);
  await s.pipeline.report(call.from).catch(() => undefined);
  const rec = await s.twin.recording(call.placed.callId);
  const present = presence10ms(rec.samples, rec.rate, 880, -30);
  const first = present.indexOf(true);
  const last = present.lastIndexOf(true);
  const gaps: number[] = [];
  let run = 0;
  for (let i = first; i <= last; i++) {
    if (!present[i]) run++;
    else {
      if (run * 10 > TARGET.gapMs) gaps.push(run * 10);
      run = 0;
    }
  }
  const underruns = host.calls.byTelephonySession(call.placed.telephonySessionId)?.streamStats?.underruns ?? NaN;
  progress(`stall check: ${stalls} × ${stallMs} ms host stalls → gaps heard ${gaps.join(", ") || "none"} ms, underruns counted ${underruns}`);
  return { stallMs, stalls, gapsHeardMs: gaps, underrunsCounted: underruns };
}

/**
 * 1b. SIP connection lost → /ready false → registered again: the twin drops the host's SIP
 * socket (TCP reset, no close frame) with new sockets refused for a moment, and the host's own
 * record of the outage gives the times.
 */
import type { Host } from "../../host/host.ts";
import type { Params } from "../params.ts";
import { progress, sleep, until, type Stack } from "../stack.ts";
import { round, summarize, type Summary } from "../stats.ts";

/** Long enough for a few failed attempts (the backoff), short enough to keep the bench brisk. */
const REFUSE_MS = 2000;

export interface SipResult {
  runs: Array<{ notReadyMs: number; registeredMs: number }>;
  notReady: Summary;
  registered: Summary;
  refusedForMs: number;
}

export async function benchSip(s: Stack, host: Host, P: Params): Promise<SipResult> {
  const runs: SipResult["runs"] = [];
  for (let i = 0; i < P.sipDrops; i++) {
    await until(() => host.status().registered, "registered before the drop");
    const t0 = Date.now();
    await s.twin.fault("/faults/sip/refuse-connections", { forMs: REFUSE_MS, mode: "reset" });
    await s.twin.fault("/faults/sip/drop", { all: true, mode: "terminate" });
    const lost = await until(() => {
      const st = host.status().sip;
      return st.lostAtMs !== null && st.lostAtMs >= t0 ? st.lostAtMs : undefined;
    }, "the host to notice", 10_000);
    const back = await until(() => {
      const st = host.status();
      return st.registered && st.sip.recoveredAtMs !== null && st.sip.recoveredAtMs >= lost ? st.sip.recoveredAtMs : undefined;
    }, "registered again", 60_000);
    runs.push({ notReadyMs: round(lost - t0, 0), registeredMs: round(back - t0, 0) });
    progress(`sip drop ${i + 1}: /ready false after ${lost - t0} ms, registered again after ${back - t0} ms`);
    await sleep(500);
  }
  return { runs, notReady: summarize(runs.map((r) => r.notReadyMs)), registered: summarize(runs.map((r) => r.registeredMs)), refusedForMs: REFUSE_MS };
}

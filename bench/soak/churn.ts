/**
 * The soak's calls: `concurrency` workers, each placing one call after another against the twin
 * until the run's end. The kinds rotate through both directions, both pipeline plans and every
 * side that ends a call, and each call is checked as it ends: the reason it ended with, audio
 * both ways, the pipeline's report (its socket closed), the twin's side ended.
 */
import type { Call } from "../../host/calls.ts";
import type { Host } from "../../host/host.ts";
import type { Plan } from "../pipeline.ts";
import { sleep, until, type Stack } from "../stack.ts";

type EndedBy = "caller" | "host" | "pipeline";

export interface CallKind {
  name: string;
  direction: "inbound" | "outbound";
  /** Who hangs up: the twin's caller (or callee), the host (as POST /calls/{id}/hangup does), or the pipeline closing its socket. */
  endedBy: EndedBy;
  /** echo: every caller frame straight back; stream: a tone sent ahead of real time, as TTS does. */
  plan: "echo" | "stream";
  /** The pipeline sends digits to the caller a second into the call. */
  dtmf: boolean;
}

export const KINDS: readonly CallKind[] = [
  { name: "in-echo-caller-hangs-up", direction: "inbound", endedBy: "caller", plan: "echo", dtmf: false },
  { name: "in-stream-host-hangs-up", direction: "inbound", endedBy: "host", plan: "stream", dtmf: true },
  { name: "in-echo-pipeline-closes", direction: "inbound", endedBy: "pipeline", plan: "echo", dtmf: false },
  { name: "out-echo-callee-hangs-up", direction: "outbound", endedBy: "caller", plan: "echo", dtmf: false },
  { name: "in-stream-caller-hangs-up", direction: "inbound", endedBy: "caller", plan: "stream", dtmf: false },
  { name: "out-stream-host-hangs-up", direction: "outbound", endedBy: "host", plan: "stream", dtmf: true },
];

const EXPECTED_REASON: Record<EndedBy, string> = { caller: "remote-hangup", host: "host-hangup", pipeline: "pipeline-closed" };
/** Ringing to media up: the bench measures ≈ 0.5–1.5 s; 30 s means it is not coming. */
const SETUP_TIMEOUT_MS = 30_000;
/** From the hang-up being due to the host's call ended. */
const END_TIMEOUT_MS = 20_000;
/** A call must have carried at least this share of the 20 ms frames its media time holds, each way. */
const MIN_FRAME_SHARE = 0.5;
const FRAME_MS = 20;

export interface ChurnOptions {
  concurrency: number;
  /** Mean call length; each call is 0.5–1.5 times it. */
  callMs: number;
  /** The profile's (and the page's) sample rate. */
  sampleRate: number;
  /** What the twin's callers offer (PCMU only for the μ-law profile: the page pins it anyway). */
  codecs?: Array<"opus" | "PCMU">;
}

export interface CallFailure {
  seq: number;
  kind: string;
  atS: number;
  error: string;
}

export interface KindCounts {
  placed: number;
  answered: number;
  ended: number;
  failed: number;
  underruns: number;
}

/** Numbers only (no per-call records beyond failures): the bench shares the host's heap, which the soak measures. */
export class Churn {
  placed = 0;
  answered = 0;
  /** Ended and passed every check. */
  ended = 0;
  failed = 0;
  /** Underruns the host counted on the calls of this run, summed as each ended. */
  underruns = 0;
  /** The same, on calls whose pipeline streams ahead of real time (a hole there is never the pipeline's lateness). */
  private streamingUnderruns = 0;
  /** Calls with media up and not yet checked. */
  private readonly live = new Map<Call, CallKind>();
  readonly failures: CallFailure[] = [];
  readonly byKind: Record<string, KindCounts> = Object.fromEntries(KINDS.map((k) => [k.name, { placed: 0, answered: 0, ended: 0, failed: 0, underruns: 0 }]));
  /** Ringing (or dialling) to media up, ms, per answered call. */
  readonly setupMs: number[] = [];
  private seq = 0;
  private stopping = false;
  private readonly workers: Array<Promise<void>> = [];
  private readonly t0 = Date.now();

  constructor(
    private readonly s: Stack,
    private readonly host: Host,
    private readonly o: ChurnOptions,
  ) {}

  /** Starts the workers, spread over one call length so calls start and end at different moments. */
  start(): void {
    for (let w = 0; w < this.o.concurrency; w++) this.workers.push(this.worker(w, (w * this.o.callMs) / this.o.concurrency));
  }

  /** No new calls from now on; resolves once every call in progress has ended and been checked. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.workers);
  }

  private async worker(w: number, delayMs: number): Promise<void> {
    await sleep(delayMs);
    while (!this.stopping) {
      const seq = ++this.seq;
      const kind = KINDS[(seq - 1) % KINDS.length];
      const lengthMs = Math.round(this.o.callMs * (0.5 + Math.random()));
      try {
        await this.runCall(w, seq, kind, lengthMs);
        this.ended++;
        this.byKind[kind.name].ended++;
      } catch (err) {
        this.failed++;
        this.byKind[kind.name].failed++;
        this.failures.push({ seq, kind: kind.name, atS: Math.round((Date.now() - this.t0) / 1000), error: (err as Error).message });
      }
      await sleep(200 + Math.random() * 800);
    }
  }

  private plan(kind: CallKind, lengthMs: number): Plan {
    const base: Plan = kind.plan === "echo" ? { kind: "echo" } : { kind: "stream", hz: 880, aheadMs: 1000, chunkMs: 500, detectHz: 440 };
    return { ...base, ...(kind.dtmf && { dtmf: { digits: "1234#", afterMs: 1000 } }), ...(kind.endedBy === "pipeline" && { closeAfterMs: lengthMs }) };
  }

  private async runCall(w: number, seq: number, kind: CallKind, lengthMs: number): Promise<void> {
    const { twin, pipeline } = this.s;
    const key = `+1555${8_000_000 + seq}`;
    const counts = this.byKind[kind.name];
    const calleeHangsUp = kind.endedBy === "caller" ? { hangupAfterMs: lengthMs } : {};
    pipeline.plan(key, this.plan(kind, lengthMs));
    const placedAtMs = Date.now();
    let call: Call;
    let twinCallId: string | undefined;
    if (kind.direction === "inbound") {
      const placed = await twin.placeCall({ from: key, play: "tone:440", ...(this.o.codecs && { codecs: this.o.codecs }), ...calleeHangsUp });
      twinCallId = placed.callId;
      this.placed++;
      counts.placed++;
      try {
        call = await until(() => {
          const c = this.host.calls.byTelephonySession(placed.telephonySessionId);
          return c?.mediaConnectedAtMs && c.stream ? c : undefined;
        }, "media up", SETUP_TIMEOUT_MS);
      } catch (err) {
        await twin.hangup(placed.callId).catch(() => {});
        throw err;
      }
    } else {
      // One callee number per worker: each worker has one call at a time, so the behaviour set here is this call's.
      const number = `1650700${String(w).padStart(4, "0")}`;
      await twin.setCallee(number, { play: "tone:440", ...(this.o.codecs && { codecs: this.o.codecs }), ...calleeHangsUp });
      this.placed++;
      counts.placed++;
      call = await this.host.placeCall(number, undefined, { customParameters: { benchKey: key } });
      await until(() => call.mediaConnectedAtMs && pipeline.hasStarted(key), "media up and the pipeline's start", SETUP_TIMEOUT_MS).catch(async (err: Error) => {
        await this.host.hangup(call.id).catch(() => {});
        throw err;
      });
    }
    this.answered++;
    counts.answered++;
    this.live.set(call, kind);
    this.setupMs.push(call.mediaConnectedAtMs! - placedAtMs);
    try {
      if (kind.endedBy === "host") {
        await sleep(lengthMs);
        await this.host.hangup(call.id);
      }
      await until(() => call.state === "ended", `the call to end (${kind.endedBy} hangs up)`, lengthMs + END_TIMEOUT_MS).catch(async (err: Error) => {
        await this.host.hangup(call.id).catch(() => {});
        throw err;
      });
    } finally {
      this.settle(call, kind);
    }
    await this.check(call, kind, key, twinCallId);
  }

  /** The call's underruns move from `live` into the counts, with no await in between. */
  private settle(call: Call, kind: CallKind): void {
    this.live.delete(call);
    const n = call.streamStats?.underruns ?? call.stream?.probeTargets.playout.underruns ?? 0;
    this.underruns += n;
    this.byKind[kind.name].underruns += n;
    if (kind.plan === "stream") this.streamingUnderruns += n;
  }

  /**
   * Holes heard so far on streaming calls: those that ended plus those still up. With the
   * pipeline ahead of real time, a hole is the host, the page or Chrome running late.
   */
  underrunsStreaming(): number {
    let n = this.streamingUnderruns;
    for (const [call, kind] of this.live) if (kind.plan === "stream") n += call.stream?.probeTargets.playout.underruns ?? call.streamStats?.underruns ?? 0;
    return n;
  }

  /** What a call that went well leaves behind. Throws the first thing that is wrong. */
  private async check(call: Call, kind: CallKind, key: string, twinCallId: string | undefined): Promise<void> {
    const expected = EXPECTED_REASON[kind.endedBy];
    if (call.endReason !== expected) throw new Error(`ended as ${call.endReason}, expected ${expected}`);
    const st = call.streamStats;
    if (!st) throw new Error("no stream stats: the stream never closed");
    const mediaMs = (call.endedAtMs ?? Date.now()) - call.mediaConnectedAtMs!;
    const minFrames = Math.floor((MIN_FRAME_SHARE * mediaMs) / FRAME_MS);
    if (st.callerFrames < minFrames) throw new Error(`caller frames ${st.callerFrames} < ${minFrames} in ${mediaMs} ms of media`);
    // Echo and stream both keep the caller's ear fed from the first frames on.
    const minPlayed = Math.floor((MIN_FRAME_SHARE * mediaMs * this.o.sampleRate) / 1000);
    if (st.playedSamples < minPlayed) throw new Error(`agent audio played ${st.playedSamples} samples < ${minPlayed} in ${mediaMs} ms of media`);
    if (st.droppedDtmf > 0 || st.droppedCallerFrames > 0 || st.badMessages > 0) throw new Error(`stream dropped ${st.droppedDtmf} dtmf, ${st.droppedCallerFrames} caller frames; ${st.badMessages} bad messages`);
    const report = await this.s.pipeline.report(key, 15_000);
    if (report.mediaFrames < minFrames) throw new Error(`the pipeline got ${report.mediaFrames} media messages < ${minFrames}`);
    if (twinCallId) {
      const id = twinCallId;
      await until(async () => (await this.s.twin.states()).get(id) === "ended", "the twin's call to end", 10_000);
    }
  }
}

import { AnsweringMachineDetector, type AmdResult } from "../bridge/amd.ts";
import type { CallStream } from "../bridge/stream.ts";

export interface AmdRequest {
  mode: "detect" | "human-only" | "leave-message";
  maxDecisionMs?: number;
}

export interface AmdVerdict {
  result: AmdResult;
  reason: string;
  atMs: number;
  /** leave-message: when the voicemail beep was heard (audio time). */
  beepAtMs?: number;
}

/** The detector's own beep wait (20 s) plus a margin: past this, leave the message anyway. */
const BEEP_GUARD_MS = 21_000;

/** Ringback frequencies: North America 440+480, Europe 425, UK 400+450 (ITU-T E.180). */
const RINGBACK_HZ = [400, 425, 440, 450, 480];
/** How long to wait for ringback before taking the audio as the callee's. */
const RINGBACK_WATCH_MS = 300;
/** Longest silence inside a ringback cadence (UK 0.4/0.2/0.4/2.0, US 2/4, EU 1/4 s) plus margin. */
const RINGBACK_GAP_MS = 4500;
/** Voice that ends ringing: the callee said something. */
const VOICE_DBFS = -45;

/**
 * RingCentral answers an outbound call with 200 OK at once and then plays ringback until the
 * callee picks up: fed to the detector, ringing would count as speech, and a 425 Hz ring as a
 * beep. The gate passes audio on only once it is the callee's: no ringback in the first 300 ms,
 * or voice after ringback, or a silence longer than any ringback cadence.
 */
export class RingbackGate {
  private state: "watching" | "ringing" | "open" = "watching";
  private elapsedMs = 0;
  private lastRingMs = 0;
  private readonly held: Int16Array[] = [];
  private readonly coeffs: number[];
  ringbackMs = 0;

  constructor(
    private readonly sampleRate: number,
    private readonly pass: (frame: Int16Array) => void,
  ) {
    this.coeffs = RINGBACK_HZ.map((hz) => 2 * Math.cos((2 * Math.PI * hz) / sampleRate));
  }

  push(frame: Int16Array): void {
    const frameMs = (frame.length * 1000) / this.sampleRate;
    this.elapsedMs += frameMs;
    if (this.state === "open") return this.pass(frame);
    const { ring, dbfs } = this.classify(frame);
    if (ring) {
      this.state = "ringing";
      this.lastRingMs = this.elapsedMs;
      this.ringbackMs += frameMs;
      this.held.length = 0;
      return;
    }
    if (this.state === "watching") {
      this.held.push(frame.slice());
      if (this.elapsedMs >= RINGBACK_WATCH_MS) this.open();
      return;
    }
    if (dbfs > VOICE_DBFS || this.elapsedMs - this.lastRingMs > RINGBACK_GAP_MS) {
      this.open();
      this.pass(frame);
    }
  }

  private open(): void {
    this.state = "open";
    for (const f of this.held.splice(0)) this.pass(f);
  }

  /** Ringback is a steady tone (or two) at the ringing frequencies holding most of the energy. */
  private classify(frame: Int16Array): { ring: boolean; dbfs: number } {
    const n = frame.length;
    let energy = 0;
    for (let i = 0; i < n; i++) energy += (frame[i] / 32768) ** 2;
    energy /= n;
    const dbfs = 10 * Math.log10(energy + 1e-12);
    if (dbfs < -50) return { ring: false, dbfs };
    let best = 0;
    let second = 0;
    for (const c of this.coeffs) {
      let s1 = 0;
      let s2 = 0;
      for (let i = 0; i < n; i++) {
        const s0 = frame[i] / 32768 + c * s1 - s2;
        s2 = s1;
        s1 = s0;
      }
      const p = (2 * (s1 * s1 + s2 * s2 - c * s1 * s2)) / (n * n);
      if (p > best) [best, second] = [p, best];
      else if (p > second) second = p;
    }
    // One tone, or two (440+480 / 400+450): a sine of power p carries p of mean energy here.
    return { ring: (best + second) / energy > 0.75, dbfs };
  }
}

/**
 * Listens to the callee's first seconds through the stream's tap and resolves with who answered.
 * In leave-message mode a machine resolves only once its beep has sounded (or the wait ran out),
 * so the pipeline starts speaking into the recording, not over the greeting.
 */
export function detectCallee(stream: CallStream, sampleRate: number, req: AmdRequest, onDecision: (v: AmdVerdict) => void): Promise<AmdVerdict> {
  return new Promise((resolve) => {
    let decided: AmdVerdict | undefined;
    const done = (v: AmdVerdict) => {
      stream.tap = undefined;
      clearTimeout(guard);
      resolve(v);
    };
    const detector = new AnsweringMachineDetector(
      { sampleRate, maxDecisionMs: req.maxDecisionMs, waitForBeep: req.mode === "leave-message" },
      (d) => {
        decided = { result: d.result, reason: d.reason, atMs: d.atMs };
        onDecision(decided);
        if (d.result !== "machine" || req.mode !== "leave-message") done(decided);
      },
      (atMs) => done({ ...decided!, beepAtMs: atMs }),
    );
    const gate = new RingbackGate(sampleRate, (pcm) => detector.push(pcm));
    stream.tap = (pcm) => gate.push(pcm);
    const guard = setTimeout(() => done(decided ?? { result: "unknown", reason: "no audio", atMs: 0 }), (req.maxDecisionMs ?? 4000) + BEEP_GUARD_MS);
    guard.unref();
  });
}

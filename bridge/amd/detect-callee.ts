import type { CallStream } from "../stream.ts";
import { AnsweringMachineDetector, type AmdResult } from "./detector.ts";
import { RingbackGate } from "./ringback-gate.ts";

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
    // A call that ends while listening stops the listening (and its 25 s guard) with it.
    void stream.whenClosed.then(() => done(decided ?? { result: "unknown", reason: "call ended", atMs: 0 }));
  });
}

/**
 * Answering-machine detection on an outbound call's callee audio: the detector (timing rules and
 * voicemail beep), the ringback gate in front of it, and detectCallee, which wires both to a
 * CallStream's tap.
 */
export { AnsweringMachineDetector, type AmdDecision, type AmdOptions, type AmdResult } from "./detector.ts";
export { RingbackGate } from "./ringback-gate.ts";
export { detectCallee, type AmdRequest, type AmdVerdict } from "./detect-callee.ts";

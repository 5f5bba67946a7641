import { describe, expect, it } from "vitest";
import { AnsweringMachineDetector, RingbackGate, type AmdDecision } from "../bridge/amd/index.ts";
import { loadWav } from "../twin/caller/source.ts";

const RATE = 8000;
const speech = Int16Array.from(loadWav("examples/audio/caller-speech.wav", RATE), (v) => Math.round(v * 32767));
const tones = (hz: number[], ms: number, dbfs = -20) =>
  Int16Array.from({ length: (RATE * ms) / 1000 }, (_, i) => Math.round(hz.reduce((s, f) => s + 32767 * 10 ** (dbfs / 20) * Math.sin((2 * Math.PI * f * i) / RATE), 0)));
const silence = (ms: number) => new Int16Array((RATE * ms) / 1000);
const concat = (...parts: Int16Array[]) => {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
};

/** Runs audio through the ringback gate into the detector, 20 ms at a time. */
function run(audio: Int16Array, waitForBeep = false) {
  let decision: AmdDecision | undefined;
  let beepAtMs: number | undefined;
  const detector = new AnsweringMachineDetector({ sampleRate: RATE, waitForBeep }, (d) => (decision ??= d), (t) => (beepAtMs = t));
  let passedMs = 0;
  const gate = new RingbackGate(RATE, (f) => {
    passedMs += (f.length * 1000) / RATE;
    detector.push(f);
  });
  for (let i = 0; i + 160 <= audio.length; i += 160) gate.push(audio.subarray(i, i + 160));
  return { decision, beepAtMs, passedMs, ringbackMs: gate.ringbackMs };
}

describe("ringback before the callee picks up (RingCentral answers 200 at once)", () => {
  const usRing = concat(tones([440, 480], 2000), silence(4000), tones([440, 480], 2000), silence(700));
  const euRing = concat(tones([425], 1000), silence(4000), tones([425], 1000), silence(500));

  it("a person after North American ringback is a human", () => {
    const r = run(concat(usRing, speech.subarray(0, 4800), silence(3000)));
    expect(r.ringbackMs).toBeGreaterThan(3500);
    expect(r.decision?.result).toBe("human");
  });

  it("a voicemail greeting after European 425 Hz ringback is a machine, and the ring is no beep", () => {
    const beepAt = euRing.length + speech.length + 400 * 8;
    const r = run(concat(euRing, speech, silence(400), tones([1000], 400, -12), silence(1000)), true);
    expect(r.decision?.result).toBe("machine");
    expect(r.beepAtMs).toBeDefined();
    // The gate passed audio only from the end of ringing: the beep's time is counted from there.
    const passedBeforeBeep = (beepAt - euRing.length) / 8;
    expect(Math.abs(r.beepAtMs! - passedBeforeBeep)).toBeLessThan(600);
  });

  it("without the gate, the same ringing fools the detector", () => {
    let decision: AmdDecision | undefined;
    const detector = new AnsweringMachineDetector({ sampleRate: RATE }, (d) => (decision ??= d));
    const audio = concat(usRing, speech.subarray(0, 4800), silence(3000));
    for (let i = 0; i + 160 <= audio.length; i += 160) detector.push(audio.subarray(i, i + 160));
    expect(decision?.result).not.toBe("human");
  });

  it("with no ringback, audio passes from the first frame (held 300 ms, then replayed)", () => {
    const r = run(concat(speech.subarray(0, 4800), silence(3000)));
    expect(r.ringbackMs).toBe(0);
    expect(r.passedMs).toBe(3600);
    expect(r.decision?.result).toBe("human");
  });

  it("a callee who picks up and stays silent is let through after the longest ringback pause", () => {
    const r = run(concat(usRing, silence(8000)));
    expect(r.passedMs).toBeGreaterThan(0);
    expect(r.decision?.result).toBe("unknown");
  });
});

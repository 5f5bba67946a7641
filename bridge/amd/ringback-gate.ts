import { goertzelCoeff, goertzelPower } from "../goertzel.ts";

/** Ringback frequencies: North America 440+480, Europe 425, UK 400+450 (ITU-T E.180). */
const RINGBACK_HZ = [400, 425, 440, 450, 480];
/** How long to wait for ringback before taking the audio as the callee's. */
const RINGBACK_WATCH_MS = 300;
/** Longest silence inside a ringback cadence (UK 0.4/0.2/0.4/2.0, US 2/4, EU 1/4 s) plus margin. */
const RINGBACK_GAP_MS = 4500;
/** Voice that ends ringing: the callee said something. */
const VOICE_DBFS = -45;

const FULL_SCALE_SQ = 32768 * 32768;

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
    this.coeffs = RINGBACK_HZ.map((hz) => goertzelCoeff(hz, sampleRate));
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
      const p = goertzelPower(frame, c) / FULL_SCALE_SQ;
      if (p > best) [best, second] = [p, best];
      else if (p > second) second = p;
    }
    // One tone, or two (440+480 / 400+450): a sine of Goertzel power p carries p / 2 of mean energy.
    return { ring: (best + second) / 2 / energy > 0.75, dbfs };
  }
}

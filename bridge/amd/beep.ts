import { goertzelBin, goertzelCoeff, goertzelHannPower, goertzelPower, type GoertzelBin } from "../goertzel.ts";

/**
 * Voicemail-beep estimator for the answering-machine detector: a loud, pure (≥ 90% of the
 * frame's energy at one frequency, no harmonic partners), stationary (±1% in frequency) tone in
 * 380–2100 Hz for ≥ 120 ms of whole frames.
 *
 * Beep band: FreeSWITCH mod_avmd detects single-frequency beeps in 440–2000 Hz (mod_vmd, its
 * predecessor, 600–1100 Hz); both track the instantaneous frequency (DESA-2) like the
 * autocorrelation estimate here.
 */

/** mod_avmd's 440–2000 Hz, widened ~5% on each side so beeps at the band's edges are not lost. */
const BEEP_MIN_HZ = 380;
const BEEP_MAX_HZ = 2100;
/** A voicemail beep is loud: well above -40 dBFS on any line that carried the greeting. */
const BEEP_MIN_DBFS = -40;
/**
 * Peak-to-total energy: Goertzel power at the tone's (refined) frequency over the frame's energy,
 * 1.0 for a pure tone. A beep keeps ≥ 0.9 down to ~12 dB SNR (line noise, G.711 and Opus keep
 * beeps far cleaner than that); speech frames, whose energy spreads over harmonics and formants,
 * stay under it almost always — see BEEP_MAX_PARTNER for the exception.
 */
const BEEP_MIN_TONE_RATIO = 0.9;
/**
 * Harmonic partners. A high voice (F0 ≈ 250 Hz) on a telephone channel is the one speech sound
 * that can pass the ratio test: the 300 Hz high-pass removes the fundamental and the 2nd harmonic
 * sits on F1, holding up to ~95% of a frame's energy. If the peak at f is the n-th harmonic of a
 * voice (n = 2, 3), its neighbours sit at f·(n±1)/n and still hold a few percent (2–6% on the
 * synthetic vowels of the tests); a beep has nothing there but noise (< 0.6% at 10 dB SNR). Measured with a Hann window so the
 * tone's own leakage does not count.
 */
const BEEP_MAX_PARTNER = 0.01;
const PARTNERS = [0.5, 1.5, 2 / 3, 4 / 3];
/** Stationarity: frame-to-run frequency deviation allowed. Digital beeps are exact and the estimate
 *  is within ~3 Hz at 10 dB SNR; sung or played notes glide and wobble (vibrato ±1–3%). */
const BEEP_FREQ_TOLERANCE = 0.01;
const BEEP_FREQ_TOLERANCE_HZ = 6;
/** Level stationarity: frames within ±6 dB of the run's first frame (beeps have a short attack). */
const BEEP_LEVEL_TOLERANCE_DB = 6;
/**
 * Consecutive fully tonal frames needed: 120 ms. The frames at the beep's edges are only partly
 * tone and fail the ratio test, so this catches any tone of ≥ ~140 ms whatever the frame alignment
 * — voicemail beeps last 150 ms to over a second. Speech never holds one pure frequency that long.
 */
const BEEP_MIN_RUN_MS = 120;

const BEEP_MIN_POWER = 10 ** (BEEP_MIN_DBFS / 10);
/** Frames down to 10 dB under the beep floor are analysed too, so a beep's partial first frame gets an estimate. */
const BEEP_ANALYSIS_POWER = 10 ** ((BEEP_MIN_DBFS - 10) / 10);

/**
 * Passes 2–4 over each frame (after the detector's pass 1), 5–8 on the rare frames that look like
 * a pure tone; nothing allocated — the state is a few numbers and two bins made in the constructor.
 */
export class BeepEstimator {
  private readonly lag: number;
  private runMs = 0;
  private runStartMs = 0;
  private runHz = 0;
  private runPowerDb = 0;
  private prevHz = 0;
  private prevRatio = 0;
  private prevMs = 0;
  private readonly first: GoertzelBin = { re: 0, im: 0 };
  private readonly second: GoertzelBin = { re: 0, im: 0 };

  constructor(private readonly sampleRate: number) {
    // The frequency estimate works at lag k ≈ sampleRate / 8000, i.e. as if at 8 kHz: kω stays
    // in (0, π/2] over the beep band, where cos(kω) is unambiguous and sensitive to frequency.
    this.lag = Math.max(1, Math.round(sampleRate / 8000));
  }

  /**
   * Tonality of one frame, and the beep run bookkeeping. Returns the beep's start (ms) when this
   * frame completes a beep, else -1. `mean`, `energy` (Σ (x − mean)²) and `power` (energy per
   * sample over full scale²) are the frame's, computed once by the detector.
   *
   * Frequency: Pisarenko's estimate from the autocorrelation at lags k and 2k (unbiased in white
   * noise, unlike a least-squares predictor), r(2k)/r(k) = cos(2kω)/cos(kω), refined by the phase
   * advance between the two half-frames' DFTs at that frequency (error < 3 Hz at 10 dB SNR).
   * Then Goertzel at the refined frequency gives the peak-to-total ratio, and (only for frames
   * that pass) Hann-windowed Goertzels at the harmonic-partner frequencies.
   */
  push(frame: Int16Array, mean: number, energy: number, power: number, startMs: number, durMs: number): number {
    const n = frame.length;
    const k = this.lag;
    const sr = this.sampleRate;
    let hz = 0;
    let ratio = 0;
    let tonal = false;
    if (power >= BEEP_ANALYSIS_POWER && n >= 4 * k + 16) {
      // Pass 2: autocorrelation at lags k and 2k.
      let r1 = 0;
      let r2 = 0;
      for (let i = 2 * k; i < n; i++) {
        const x = frame[i] - mean;
        r1 += x * (frame[i - k] - mean);
        r2 += x * (frame[i - 2 * k] - mean);
      }
      // cos(kω) = c solves 2c² − (r2/r1)·c − 1 = 0; this form of the root is stable as r1 → 0.
      const root = Math.sqrt(r2 * r2 + 8 * r1 * r1);
      const den = (r1 >= 0 ? root : -root) - r2;
      const c = den !== 0 ? Math.min(1, Math.max(-1, (2 * r1) / den)) : 0;
      let w = Math.acos(c) / k;
      const coarseHz = (w * sr) / (2 * Math.PI);
      if (coarseHz >= BEEP_MIN_HZ * 0.8 && coarseHz <= BEEP_MAX_HZ * 1.2) {
        // Pass 3: phase advance between the half-frames.
        const m = n >> 1;
        const a = this.first;
        const b = this.second;
        const coarse = goertzelCoeff(coarseHz, sr);
        goertzelBin(frame, coarse, 0, m, mean, a);
        goertzelBin(frame, coarse, m, 2 * m, mean, b);
        const advance = Math.atan2(b.im * a.re - b.re * a.im, b.re * a.re + b.im * a.im);
        let d = advance - w * m;
        d -= 2 * Math.PI * Math.round(d / (2 * Math.PI));
        w += d / m;
        hz = (w * sr) / (2 * Math.PI);
        // Pass 4: peak-to-total (a sine's Goertzel power is twice its mean square).
        ratio = (goertzelPower(frame, goertzelCoeff(hz, sr), 0, n, mean) * n) / (2 * energy);
        tonal = power >= BEEP_MIN_POWER && hz >= BEEP_MIN_HZ && hz <= BEEP_MAX_HZ && ratio >= BEEP_MIN_TONE_RATIO;
        // Passes 5–8, tonal frames only: harmonic partners.
        for (let p = 0; tonal && p < PARTNERS.length; p++) {
          const share = (goertzelHannPower(frame, goertzelCoeff(hz * PARTNERS[p], sr), 0, n, mean) * n) / (2 * energy);
          if (share > BEEP_MAX_PARTNER) tonal = false;
        }
      }
    }
    return this.track(tonal, hz, ratio, 10 * Math.log10(power + 1e-20), startMs, durMs);
  }

  /** The run of tonal frames at one frequency and level; returns its start once it is long enough, else -1. */
  private track(tonal: boolean, hz: number, ratio: number, levelDb: number, startMs: number, durMs: number): number {
    let result = -1;
    if (tonal) {
      const sameRun =
        this.runMs > 0 &&
        Math.abs(hz - this.runHz) <= Math.max(BEEP_FREQ_TOLERANCE_HZ, BEEP_FREQ_TOLERANCE * this.runHz) &&
        Math.abs(levelDb - this.runPowerDb) <= BEEP_LEVEL_TOLERANCE_DB;
      if (!sameRun) {
        this.runMs = 0;
        this.runHz = hz;
        this.runPowerDb = levelDb;
        this.runStartMs = startMs;
        // The frame before was probably part silence, part tone: same frequency, but a
        // peak-to-total ratio ≈ the fraction of the frame the tone filled. Move the start back.
        if (
          this.prevRatio > 0.05 &&
          this.prevRatio < BEEP_MIN_TONE_RATIO &&
          Math.abs(this.prevHz - hz) <= 2 * Math.max(BEEP_FREQ_TOLERANCE_HZ, BEEP_FREQ_TOLERANCE * hz)
        ) {
          this.runStartMs = startMs - this.prevRatio * this.prevMs;
        }
      }
      this.runMs += durMs;
      // Exactly once per run: on the frame that reaches the minimum length.
      if (this.runMs >= BEEP_MIN_RUN_MS - 1e-6 && this.runMs - durMs < BEEP_MIN_RUN_MS - 1e-6) result = this.runStartMs;
    } else {
      this.runMs = 0;
    }
    this.prevHz = hz;
    this.prevRatio = ratio;
    this.prevMs = durMs;
    return result;
  }
}

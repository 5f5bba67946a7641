/**
 * Voice activity for the answering-machine detector: frame power against an adaptive noise floor
 * (minimum statistics) and an absolute floor.
 */

/**
 * Absolute voice floor: -45 dBFS RMS. Asterisk's silence_threshold 256 (mean |x|) is ≈ -40 dBFS
 * RMS for noise-like signals; we sit 5 dB lower because the adaptive floor below already rejects
 * stationary noise, and quiet far-end talkers on mobile calls reach -35..-40 dBFS. Telephone idle
 * noise (-60..-70 dBFS) and codec comfort noise stay well under it.
 */
const MIN_VOICE_DBFS = -45;
/**
 * A frame is voice when it is this far above the noise floor. Frame powers of stationary noise
 * scatter ±1–1.5 dB around their mean (20 ms frames, chi-square with ≥160 degrees of freedom),
 * and the minimum-statistics floor sits at the low end of that scatter; speech syllables stand
 * 15–30 dB above the pauses between them. 9 dB keeps noise out with a wide margin and still
 * catches the weak ends of syllables.
 */
const VOICE_MARGIN_DB = 9;
/**
 * Minimum statistics (R. Martin, "Noise power spectral density estimation based on optimal
 * smoothing and minimum statistics", IEEE TSAP 2001, broadband here): the noise floor is the
 * minimum frame power over the last ~1.6 s, kept as 8 sub-windows of 200 ms. Speech always dips
 * to the floor within that span (pauses between words, stop closures); stationary noise IS the
 * floor, so it never counts as voice; a level change of the noise is absorbed within 1.6 s.
 */
const FLOOR_SUBWINDOW_MS = 200;
const FLOOR_SUBWINDOWS = 8;
/**
 * Frames under -80 dBFS are digital silence (nothing received yet, packet loss concealed with
 * zeros) and say nothing about the line noise; they are left out of the floor so that noise which
 * starts after a stretch of zeros is not mistaken for voice.
 */
const DIGITAL_SILENCE_DBFS = -80;

const dbToPower = (db: number) => 10 ** (db / 10);
const MIN_VOICE_POWER = dbToPower(MIN_VOICE_DBFS);
const VOICE_MARGIN = dbToPower(VOICE_MARGIN_DB);
const DIGITAL_SILENCE_POWER = dbToPower(DIGITAL_SILENCE_DBFS);

/** State: one 8-slot Float64Array and a few numbers; nothing is allocated per frame. */
export class VoiceActivity {
  private readonly subMins = new Float64Array(FLOOR_SUBWINDOWS).fill(Infinity);
  private subIndex = 0;
  private subMin = Infinity;
  private subMs = 0;

  /** @param power the frame's mean power, DC removed, relative to full scale (1 = 0 dBFS). */
  voiced(power: number, durMs: number): boolean {
    if (power > DIGITAL_SILENCE_POWER && power < this.subMin) this.subMin = power;
    let floor = this.subMin;
    for (let i = 0; i < FLOOR_SUBWINDOWS; i++) if (this.subMins[i] < floor) floor = this.subMins[i];
    this.subMs += durMs;
    if (this.subMs >= FLOOR_SUBWINDOW_MS) {
      this.subMins[this.subIndex] = this.subMin;
      this.subIndex = (this.subIndex + 1) % FLOOR_SUBWINDOWS;
      this.subMin = Infinity;
      this.subMs = 0;
    }
    const threshold = Math.max(MIN_VOICE_POWER, floor === Infinity ? 0 : floor * VOICE_MARGIN);
    return power > threshold;
  }
}

/** The floor a level meter reads for silence (16-bit audio's own floor is about -96 dBFS). */
export const SILENCE_DBFS = -96;
/** Per 20 ms frame, how much of a louder frame the meter takes (attack) and of a quieter one (release). */
const ATTACK = 0.6;
const RELEASE = 0.25;
const FULL_SCALE_SQUARED = 32768 * 32768;

/**
 * A cheap level meter for one direction of a call: the mean square of each frame, smoothed with a
 * fast attack and a slower release, read as dBFS. A few numbers per frame, no allocation: it runs
 * on every caller frame of every call.
 */
export class LevelMeter {
  private meanSquare = 0;

  /** Takes the first `n` samples of `pcm` as one frame (`n` 0: a silent frame, so the meter falls). */
  push(pcm: Int16Array, n = pcm.length): void {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += pcm[i] * pcm[i];
    const frame = n > 0 ? sum / n : 0;
    this.meanSquare += (frame - this.meanSquare) * (frame > this.meanSquare ? ATTACK : RELEASE);
  }

  /** The level in dBFS, one decimal, never below SILENCE_DBFS (JSON has no -Infinity). */
  get dbfs(): number {
    const db = 10 * Math.log10(this.meanSquare / FULL_SCALE_SQUARED);
    return db > SILENCE_DBFS ? Math.round(db * 10) / 10 : SILENCE_DBFS;
  }
}

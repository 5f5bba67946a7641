/**
 * Answering-machine detection (AMD) on the callee's audio of an OUTBOUND call.
 *
 * RingCentral answers 200 OK at once on outbound calls, so SIP says nothing about who (or what)
 * picked up: the decision has to come from what the callee side sounds like in the first seconds.
 * This is the classic energy/timing detector of Asterisk's app_amd (and of FreeSWITCH's mod_amd
 * port of it), its timing thresholds reconciled with Twilio's AMD tuning parameters, plus a
 * voicemail-beep detector for leaving a message.
 *
 * Feed it 20 ms frames of PCM16 mono in real time, starting when the callee's audio starts (any
 * in-band ringback before that would count as voice, and a single-tone ringback such as 425 Hz as
 * a beep). Per frame it does O(frame) arithmetic — two to four passes over the samples, eight on
 * the rare frames that look like a pure tone — and allocates nothing: the state is a handful of
 * numbers and one 8-slot Float64Array made in the constructor (the decision object is made once).
 * Other frame lengths work too: durations are counted in samples, not frames.
 *
 * Per frame:
 *  1. Voice activity: frame power against an adaptive noise floor (minimum statistics) and an
 *     absolute floor.
 *  2. Asterisk's words: a run of voice ≥ 100 ms is a word; ≥ 50 ms of silence (three 20 ms frames)
 *     ends it. The first word starts the greeting.
 *  3. Rules (AmdDecision.reason in quotes):
 *       - a voicemail beep (see 4), at any time                   → machine ("beep")
 *       - no word for 2500 ms after the answer                    → unknown ("initial-silence")
 *       - greeting with ≤ 1500 ms of voice, then 800 ms of silence → human ("short-greeting")
 *       - any greeting not yet judged a machine, then 1200 ms of silence → human ("speech-end")
 *       - greeting spanning ≥ 2500 ms with ≥ 1500 ms of voice      → machine ("long-greeting")
 *       - 6 words                                                 → machine ("max-words")
 *       - one utterance without a 50 ms gap for ≥ 5000 ms          → machine ("max-word-length")
 *       - nothing decided after maxDecisionMs (default 4000)      → unknown ("timeout")
 *     A decision is made exactly once.
 *  4. Beep: a loud, pure (≥ 90% of the frame's energy at one frequency, no harmonic partners),
 *     stationary (±1% in frequency) tone in 380–2100 Hz for ≥ 120 ms of whole frames. With
 *     waitForBeep, after a "machine" decision the search goes on until the beep is found —
 *     onBeep(atMs), atMs = the beep's START in audio time, called ~140 ms into the tone — or until
 *     maxBeepWaitMs (default 20000) have passed since the machine decision: then it gives up
 *     silently, onBeep is never called, so the caller needs its own fallback (e.g. speak after
 *     the greeting has been quiet for a while). A beep during the analysis decides "machine"
 *     (reason "beep") and, with waitForBeep, is reported through onBeep right after onDecision.
 *     There is no beep search after "human" or "unknown", nor without waitForBeep.
 *
 * Sources:
 *  - Asterisk app_amd.c / amd.conf.sample defaults: initial_silence 2500, greeting 1500,
 *    after_greeting_silence 800, total_analysis_time 5000, min_word_length 100,
 *    between_words_silence 50, maximum_number_of_words 3, maximum_word_length 5000,
 *    silence_threshold 256 (mean |sample| on 0..32767); TOOLONG → AMDSTATUS NOTSURE.
 *  - Twilio AMD tuning parameters: MachineDetectionSpeechThreshold 2400 ms (speech activity
 *    shorter → human, longer → machine), MachineDetectionSpeechEndThreshold 1200 ms (silence that
 *    ends speech activity), MachineDetectionSilenceTimeout 5000 ms (initial silence → AnsweredBy
 *    "unknown"), MachineDetectionTimeout 30 s.
 *  - SignalWire's machine detector: MachineWordsThreshold 6.
 *  - Beep band: FreeSWITCH mod_avmd detects single-frequency beeps in 440–2000 Hz (mod_vmd, its
 *    predecessor, 600–1100 Hz); both track the instantaneous frequency (DESA-2) like the
 *    autocorrelation estimate here.
 */

export type AmdResult = "human" | "machine" | "unknown";

export interface AmdOptions {
  sampleRate: number;
  /** Give up (result "unknown", reason "timeout") after this much audio. Default 4000. */
  maxDecisionMs?: number;
  /** After a "machine" decision, look for the voicemail beep and report it through onBeep. */
  waitForBeep?: boolean;
  /** Stop looking for the beep this long after the machine decision (onBeep is then never called). Default 20000. */
  maxBeepWaitMs?: number;
}

export interface AmdDecision {
  result: AmdResult;
  /** Which rule fired: initial-silence, short-greeting, speech-end, long-greeting, max-words, max-word-length, beep, timeout. */
  reason: string;
  /** Audio time of the decision (ms since the first frame, at the end of the deciding frame). */
  atMs: number;
  /** Greeting length: first voice of the first word to the last voiced frame (absent if no word was heard). */
  greetingMs?: number;
  /** Silence before the greeting started (or the whole analysis when no word was heard). */
  initialSilenceMs?: number;
}

// ---- Voice activity ----------------------------------------------------------------------------

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

// ---- Timing rules (see the sources in the header) -----------------------------------------------

/** Asterisk initial_silence. The verdict is Twilio's ("unknown"), not Asterisk's ("MACHINE"): a
 *  silent answer is as often a person waiting for the caller to speak (robocall habits) as a
 *  voicemail box with a slow greeting, and the agent's right move — say something — is the same. */
const INITIAL_SILENCE_MS = 2500;
/** Asterisk greeting: a greeting with at most this much voice, then after_greeting_silence, is a person. */
const GREETING_MAX_VOICE_MS = 1500;
/** Asterisk after_greeting_silence: the "hello?" ... waiting-for-an-answer pause. */
const AFTER_GREETING_SILENCE_MS = 800;
/** Twilio MachineDetectionSpeechEndThreshold: silence that ends any (not too long) greeting → human. */
const SPEECH_END_SILENCE_MS = 1200;
/** Twilio MachineDetectionSpeechThreshold (2400) rounded up to 2.5 s: a greeting that keeps going
 *  (no pause long enough to end it) this long is a recorded message. Only with ≥ GREETING_MAX_VOICE_MS
 *  of actual voice in it, so a few hesitant "hello?"s with pauses in between are not a machine. */
const LONG_GREETING_MS = 2500;
/** Asterisk min_word_length. */
const MIN_WORD_MS = 100;
/** Asterisk between_words_silence is 50 ms; with 20 ms frames that means three silent frames. */
const BETWEEN_WORDS_SILENCE_MS = 50;
/** SignalWire MachineWordsThreshold. Asterisk's default of 3 is too eager: energy "words" are runs of
 *  voice between ≥ 50 ms gaps, and a chatty "Hello? Yes? Who is this?" already makes 3–4. Six
 *  catches staccato prompts ("please · enter · your · mailbox · number") that never add up to the
 *  1.5 s of voice the long-greeting rule wants. */
const MAX_WORDS = 6;
/** Asterisk maximum_word_length: one utterance without a 50 ms gap this long is not conversation. */
const MAX_WORD_MS = 5000;

const DEFAULT_MAX_DECISION_MS = 4000;
const DEFAULT_MAX_BEEP_WAIT_MS = 20000;

// ---- Beep ---------------------------------------------------------------------------------------

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

const dbToPower = (db: number) => 10 ** (db / 10);
const FULL_SCALE_SQ = 32768 * 32768;
const MIN_VOICE_POWER = dbToPower(MIN_VOICE_DBFS);
const VOICE_MARGIN = dbToPower(VOICE_MARGIN_DB);
const DIGITAL_SILENCE_POWER = dbToPower(DIGITAL_SILENCE_DBFS);
const BEEP_MIN_POWER = dbToPower(BEEP_MIN_DBFS);
/** Frames down to 10 dB under the beep floor are analysed too, so a beep's partial first frame gets an estimate. */
const BEEP_ANALYSIS_POWER = dbToPower(BEEP_MIN_DBFS - 10);

/** analysing → (machine with waitForBeep) beep → done; or analysing → done. */
type Phase = "analysing" | "beep" | "done";

export class AnsweringMachineDetector {
  private readonly sampleRate: number;
  private readonly maxDecisionMs: number;
  private readonly waitForBeep: boolean;
  private readonly maxBeepWaitMs: number;
  private readonly onDecision: (d: AmdDecision) => void;
  private readonly onBeep: ((atMs: number) => void) | undefined;

  private phase: Phase = "analysing";
  /** Samples pushed so far: the audio clock. */
  private samples = 0;

  // Noise floor (minimum statistics over FLOOR_SUBWINDOWS × FLOOR_SUBWINDOW_MS).
  private readonly subMins = new Float64Array(FLOOR_SUBWINDOWS).fill(Infinity);
  private subIndex = 0;
  private subMin = Infinity;
  private subMs = 0;

  // Words and greeting (Asterisk's state machine).
  private inWord = false;
  private voiceRunMs = 0;
  private voiceRunStartMs = 0;
  private silenceRunMs = 0;
  private words = 0;
  private inGreeting = false;
  private greetingStartMs = 0;
  private greetingVoiceMs = 0;
  private lastVoiceEndMs = 0;

  // Beep search.
  private beepDeadlineMs = Infinity;
  private runMs = 0;
  private runStartMs = 0;
  private runHz = 0;
  private runPowerDb = 0;
  private prevHz = 0;
  private prevRatio = 0;
  private prevMs = 0;
  /** Goertzel output (fields, so nothing is allocated per call). */
  private re = 0;
  private im = 0;
  private readonly lag: number;

  constructor(opts: AmdOptions, onDecision: (d: AmdDecision) => void, onBeep?: (atMs: number) => void) {
    const { sampleRate } = opts;
    if (!Number.isFinite(sampleRate) || sampleRate < 8000 || sampleRate > 48000) {
      throw new RangeError(`AMD: sampleRate must be 8000..48000, got ${sampleRate}`);
    }
    this.sampleRate = sampleRate;
    this.maxDecisionMs = opts.maxDecisionMs ?? DEFAULT_MAX_DECISION_MS;
    this.maxBeepWaitMs = opts.maxBeepWaitMs ?? DEFAULT_MAX_BEEP_WAIT_MS;
    if (!(this.maxDecisionMs > 0)) throw new RangeError(`AMD: maxDecisionMs must be > 0`);
    if (!(this.maxBeepWaitMs >= 0)) throw new RangeError(`AMD: maxBeepWaitMs must be ≥ 0`);
    this.waitForBeep = opts.waitForBeep ?? false;
    this.onDecision = onDecision;
    this.onBeep = onBeep;
    // The frequency estimate works at lag k ≈ sampleRate / 8000, i.e. as if at 8 kHz: kω stays
    // in (0, π/2] over the beep band, where cos(kω) is unambiguous and sensitive to frequency.
    this.lag = Math.max(1, Math.round(sampleRate / 8000));
  }

  /** Feed one frame (20 ms recommended) of the callee's audio, PCM16 mono at opts.sampleRate. */
  push(frame: Int16Array): void {
    const n = frame.length;
    if (n === 0 || this.phase === "done") return;
    const startMs = (this.samples * 1000) / this.sampleRate;
    this.samples += n;
    const endMs = (this.samples * 1000) / this.sampleRate;
    const durMs = endMs - startMs;

    // Pass 1: mean and power (DC removed, normalised to full scale).
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < n; i++) {
      const v = frame[i];
      sum += v;
      sumSq += v * v;
    }
    const mean = sum / n;
    const energy = Math.max(0, sumSq - sum * mean); // Σ (x - mean)²
    const power = energy / n / FULL_SCALE_SQ;

    const beep = this.tone(frame, mean, energy, power, startMs, durMs);

    if (this.phase === "beep") {
      if (beep >= 0) {
        this.phase = "done";
        this.onBeep?.(round(beep));
      } else if (endMs >= this.beepDeadlineMs) {
        this.phase = "done"; // gave up: onBeep is never called
      }
      return;
    }

    const voiced = this.voiceActivity(power, durMs);
    this.analyse(voiced, startMs, endMs, durMs, beep);
  }

  // ---- Voice activity ----------------------------------------------------------------------------

  private voiceActivity(power: number, durMs: number): boolean {
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

  // ---- Rules ------------------------------------------------------------------------------------

  private analyse(voiced: boolean, startMs: number, endMs: number, durMs: number, beep: number): void {
    if (voiced) {
      if (this.voiceRunMs === 0) this.voiceRunStartMs = startMs;
      this.voiceRunMs += durMs;
      this.silenceRunMs = 0;
      if (!this.inWord && this.voiceRunMs >= MIN_WORD_MS) {
        this.inWord = true;
        this.words++;
        if (!this.inGreeting) {
          this.inGreeting = true;
          this.greetingStartMs = this.voiceRunStartMs;
          // The word's frames so far (short gaps inside it excluded) are its voice.
          this.greetingVoiceMs = this.voiceRunMs - durMs;
        }
      }
      if (this.inGreeting) {
        this.greetingVoiceMs += durMs;
        this.lastVoiceEndMs = endMs;
      }
    } else {
      this.silenceRunMs += durMs;
      if (this.silenceRunMs >= BETWEEN_WORDS_SILENCE_MS) {
        this.inWord = false;
        this.voiceRunMs = 0;
      }
    }

    if (beep >= 0) return this.decide("machine", "beep", endMs, beep);

    if (this.inGreeting) {
      const span = this.lastVoiceEndMs - this.greetingStartMs;
      if (voiced) {
        if (this.words >= MAX_WORDS) return this.decide("machine", "max-words", endMs);
        if (span >= LONG_GREETING_MS && this.greetingVoiceMs >= GREETING_MAX_VOICE_MS) {
          return this.decide("machine", "long-greeting", endMs);
        }
        if (this.voiceRunMs >= MAX_WORD_MS) return this.decide("machine", "max-word-length", endMs);
      } else {
        if (this.silenceRunMs >= AFTER_GREETING_SILENCE_MS && this.greetingVoiceMs <= GREETING_MAX_VOICE_MS) {
          return this.decide("human", "short-greeting", endMs);
        }
        if (this.silenceRunMs >= SPEECH_END_SILENCE_MS) return this.decide("human", "speech-end", endMs);
      }
    } else if (endMs >= INITIAL_SILENCE_MS && this.voiceRunMs === 0) {
      // (A voice run under way may be the first word: let it finish or fail first.)
      return this.decide("unknown", "initial-silence", endMs);
    }

    if (endMs >= this.maxDecisionMs) this.decide("unknown", "timeout", endMs);
  }

  /** @param beepAtMs ≥ 0 when the decision is a beep heard during the analysis. */
  private decide(result: AmdResult, reason: string, atMs: number, beepAtMs = -1): void {
    const d: AmdDecision = { result, reason, atMs: round(atMs) };
    if (this.inGreeting) {
      d.greetingMs = round(this.lastVoiceEndMs - this.greetingStartMs);
      d.initialSilenceMs = round(this.greetingStartMs);
    } else {
      d.initialSilenceMs = round(atMs);
    }
    if (result === "machine" && this.waitForBeep) {
      this.phase = "beep";
      this.beepDeadlineMs = atMs + this.maxBeepWaitMs;
    } else {
      this.phase = "done";
    }
    this.onDecision(d);
    if (beepAtMs >= 0 && this.phase === "beep") {
      this.phase = "done";
      this.onBeep?.(round(beepAtMs));
    }
  }

  // ---- Beep -------------------------------------------------------------------------------------

  /**
   * Tonality of one frame, and the beep run bookkeeping. Returns the beep's start (ms) when this
   * frame completes a beep, else -1.
   *
   * Frequency: Pisarenko's estimate from the autocorrelation at lags k and 2k (unbiased in white
   * noise, unlike a least-squares predictor), r(2k)/r(k) = cos(2kω)/cos(kω), refined by the phase
   * advance between the two half-frames' DFTs at that frequency (error < 3 Hz at 10 dB SNR).
   * Then Goertzel at the refined frequency gives the peak-to-total ratio, and (only for frames
   * that pass) Hann-windowed Goertzels at the harmonic-partner frequencies.
   */
  private tone(frame: Int16Array, mean: number, energy: number, power: number, startMs: number, durMs: number): number {
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
        this.goertzel(frame, 0, m, mean, w);
        const ar = this.re;
        const ai = this.im;
        this.goertzel(frame, m, 2 * m, mean, w);
        const advance = Math.atan2(this.im * ar - this.re * ai, this.re * ar + this.im * ai);
        let d = advance - w * m;
        d -= 2 * Math.PI * Math.round(d / (2 * Math.PI));
        w += d / m;
        hz = (w * sr) / (2 * Math.PI);
        // Pass 4: peak-to-total.
        this.goertzel(frame, 0, n, mean, w);
        ratio = (2 * (this.re * this.re + this.im * this.im)) / (n * energy);
        tonal = power >= BEEP_MIN_POWER && hz >= BEEP_MIN_HZ && hz <= BEEP_MAX_HZ && ratio >= BEEP_MIN_TONE_RATIO;
        // Passes 5–8, tonal frames only: harmonic partners.
        for (let p = 0; tonal && p < PARTNERS.length; p++) {
          if (this.partner(frame, mean, energy, w * PARTNERS[p]) > BEEP_MAX_PARTNER) tonal = false;
        }
      }
    }

    const levelDb = 10 * Math.log10(power + 1e-20);
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

  /** Goertzel DFT bin at ω (rad/sample) over frame[from, to) minus mean; result in re/im (phase relative to `from`, up to a common factor). */
  private goertzel(frame: Int16Array, from: number, to: number, mean: number, w: number): void {
    const coeff = 2 * Math.cos(w);
    let s1 = 0;
    let s2 = 0;
    for (let i = from; i < to; i++) {
      const s0 = frame[i] - mean + coeff * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    this.re = s1 - Math.cos(w) * s2;
    this.im = Math.sin(w) * s2;
  }

  /**
   * Share of the frame's energy at ω through a Hann window (1.0 for a pure tone at ω). The window
   * comes from a rotating phasor, not a table: nothing to allocate per frame length.
   */
  private partner(frame: Int16Array, mean: number, energy: number, w: number): number {
    const n = frame.length;
    const coeff = 2 * Math.cos(w);
    const step = (2 * Math.PI) / n;
    const cs = Math.cos(step);
    const sn = Math.sin(step);
    let pc = Math.cos(step / 2); // cos(2π(i + ½)/n)
    let ps = Math.sin(step / 2);
    let s1 = 0;
    let s2 = 0;
    let sumW = 0;
    for (let i = 0; i < n; i++) {
      const win = 0.5 - 0.5 * pc;
      sumW += win;
      const s0 = win * (frame[i] - mean) + coeff * s1 - s2;
      s2 = s1;
      s1 = s0;
      const t = pc * cs - ps * sn;
      ps = ps * cs + pc * sn;
      pc = t;
    }
    const p = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    return (2 * p * n) / (sumW * sumW * energy);
  }
}

function round(ms: number): number {
  return Math.round(ms);
}

import { BeepEstimator } from "./beep.ts";
import { VoiceActivity } from "./voice-activity.ts";

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
 * a beep: ringback-gate.ts holds it back). Per frame it does O(frame) arithmetic — two to four
 * passes over the samples, eight on the rare frames that look like a pure tone — and allocates
 * nothing: the state is a handful of numbers, one 8-slot Float64Array and two DFT bins made in the
 * constructor (the decision object is made once). Other frame lengths work too: durations are counted in
 * samples, not frames.
 *
 * Per frame:
 *  1. Voice activity (voice-activity.ts): frame power against an adaptive noise floor (minimum
 *     statistics) and an absolute floor.
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
 *  4. Beep (beep.ts): a loud, pure, stationary tone in 380–2100 Hz for ≥ 120 ms. With
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

const FULL_SCALE_SQ = 32768 * 32768;

/** analysing → (machine with waitForBeep) beep → done; or analysing → done. */
type Phase = "analysing" | "beep" | "done";

export class AnsweringMachineDetector {
  private readonly sampleRate: number;
  private readonly maxDecisionMs: number;
  private readonly waitForBeep: boolean;
  private readonly maxBeepWaitMs: number;
  private readonly onDecision: (d: AmdDecision) => void;
  private readonly onBeep: ((atMs: number) => void) | undefined;
  private readonly voice = new VoiceActivity();
  private readonly beep: BeepEstimator;

  private phase: Phase = "analysing";
  /** Samples pushed so far: the audio clock. */
  private samples = 0;
  private beepDeadlineMs = Infinity;

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
    this.beep = new BeepEstimator(sampleRate);
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

    const beep = this.beep.push(frame, mean, energy, power, startMs, durMs);

    if (this.phase === "beep") {
      if (beep >= 0) {
        this.phase = "done";
        this.onBeep?.(Math.round(beep));
      } else if (endMs >= this.beepDeadlineMs) {
        this.phase = "done"; // gave up: onBeep is never called
      }
      return;
    }

    const voiced = this.voice.voiced(power, durMs);
    this.analyse(voiced, startMs, endMs, durMs, beep);
  }

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
    const d: AmdDecision = { result, reason, atMs: Math.round(atMs) };
    if (this.inGreeting) {
      d.greetingMs = Math.round(this.lastVoiceEndMs - this.greetingStartMs);
      d.initialSilenceMs = Math.round(this.greetingStartMs);
    } else {
      d.initialSilenceMs = Math.round(atMs);
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
      this.onBeep?.(Math.round(beepAtMs));
    }
  }
}

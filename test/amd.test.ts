import { describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import wavefile from "wavefile";
import { AnsweringMachineDetector, type AmdDecision, type AmdOptions } from "../bridge/amd/index.ts";

// Answering-machine detector on generated audio: "hello?" greetings (synthetic glottal-pulse voice
// through formant filters, and the example recording cut to 0.5 s when it is checked out), voicemail
// greetings (3.5–5.5 s of syllable-rate synthetic speech with short pauses, and the whole recording)
// with beeps, silence, line noise, music-like beds and sustained vowels. Pure computation: no I/O
// except the optional WAV.

// ---- Signal generation (deterministic: seeded PRNG) ---------------------------------------------

type Sig = Float32Array; // samples in [-1, 1]

function prng(seed: number): () => number {
  // mulberry32
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

const len = (rate: number, ms: number) => Math.round((rate * ms) / 1000);
const dbToAmp = (db: number) => 10 ** (db / 20);

/** Scales x so that its active level (mean power of the blocks within 30 dB of the loudest, ≈ ITU-T P.56) is `db` dBFS. */
function normalise(x: Sig, db: number): Sig {
  let peak = 0;
  for (const v of x) peak = Math.max(peak, Math.abs(v));
  if (peak === 0) return x;
  const block = Math.max(1, Math.floor(x.length / Math.max(1, Math.floor(x.length / 160))));
  const powers: number[] = [];
  for (let i = 0; i < x.length; i += block) {
    let s = 0;
    const end = Math.min(x.length, i + block);
    for (let j = i; j < end; j++) s += x[j] * x[j];
    powers.push(s / (end - i));
  }
  const max = Math.max(...powers);
  const active = powers.filter((p) => p > max / 1000);
  const level = active.reduce((a, b) => a + b, 0) / active.length;
  const g = dbToAmp(db) / Math.sqrt(level);
  return x.map((v) => v * g);
}

function concat(...parts: Sig[]): Sig {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** a + b (b scaled by gainDb), length of the longer. */
function mix(a: Sig, b: Sig, gainDb = 0): Sig {
  const g = dbToAmp(gainDb);
  const out = new Float32Array(Math.max(a.length, b.length));
  for (let i = 0; i < out.length; i++) out[i] = (a[i] ?? 0) + g * (b[i] ?? 0);
  return out;
}

function silence(rate: number, ms: number): Sig {
  return new Float32Array(len(rate, ms));
}

/** White Gaussian noise at `db` dBFS RMS. */
function noise(rate: number, ms: number, db: number, seed = 1): Sig {
  const r = prng(seed);
  const a = dbToAmp(db);
  return Float32Array.from({ length: len(rate, ms) }, () => a * gaussian(r));
}

/** A pure tone with 5 ms raised-cosine edges (digital voicemail beeps ramp like this). */
function tone(rate: number, ms: number, hz: number, db = -12): Sig {
  const n = len(rate, ms);
  const a = dbToAmp(db) * Math.SQRT2;
  const ramp = len(rate, 5);
  return Float32Array.from({ length: n }, (_, i) => {
    const edge = Math.min(1, i / ramp, (n - 1 - i) / ramp);
    return a * (0.5 - 0.5 * Math.cos(Math.PI * Math.max(0, edge))) * Math.sin((2 * Math.PI * hz * i) / rate);
  });
}

/** Second-order resonator (formant) filter, in place, peak gain ≈ 1. */
function resonate(x: Sig, rate: number, hz: number, bw: number): void {
  if (hz >= rate / 2 - bw) return;
  const r = Math.exp((-Math.PI * bw) / rate);
  const a1 = -2 * r * Math.cos((2 * Math.PI * hz) / rate);
  const a2 = r * r;
  const g = 1 - r; // rough normalisation
  let y1 = 0;
  let y2 = 0;
  for (let i = 0; i < x.length; i++) {
    const y = g * x[i] - a1 * y1 - a2 * y2;
    y2 = y1;
    y1 = y;
    x[i] = y;
  }
}

/** Biquad band-pass 300–3400 Hz (a telephone channel): 2nd-order high-pass at 300, low-pass at 3400. */
function telephoneBand(x: Sig, rate: number): Sig {
  const out = Float32Array.from(x);
  const biquad = (hz: number, high: boolean) => {
    const w = (2 * Math.PI * Math.min(hz, rate * 0.45)) / rate;
    const alpha = Math.sin(w) / (2 * Math.SQRT1_2);
    const cw = Math.cos(w);
    const b0 = high ? (1 + cw) / 2 : (1 - cw) / 2;
    const b1 = high ? -(1 + cw) : 1 - cw;
    const a0 = 1 + alpha;
    const a1 = -2 * cw;
    const a2 = 1 - alpha;
    let x1 = 0, x2 = 0, y1 = 0, y2 = 0;
    for (let i = 0; i < out.length; i++) {
      const y = (b0 * out[i] + b1 * x1 + b0 * x2 - a1 * y1 - a2 * y2) / a0;
      x2 = x1;
      x1 = out[i];
      y2 = y1;
      y1 = y;
      out[i] = y;
    }
  };
  biquad(300, true);
  biquad(300, true);
  if (rate > 7000) biquad(3400, false);
  return out;
}

// Vowel formants (F1, F2, F3 in Hz), adult speaker.
const VOWELS: Record<string, [number, number, number]> = {
  a: [730, 1090, 2440],
  e: [530, 1840, 2480],
  i: [270, 2290, 3010],
  o: [570, 840, 2410],
  u: [300, 870, 2240],
  ae: [660, 1720, 2410],
};

interface VoicedOpts {
  f0: number; // Hz at the start
  f0End?: number; // Hz at the end (linear glide), default f0
  vowel: keyof typeof VOWELS;
  jitter?: number; // period perturbation (fraction), default 0.005
  seed?: number;
}

/**
 * Voiced speech: a glottal pulse train (impulses through a one-pole low-pass, ≈ -6 dB/oct source
 * tilt with the radiation term) through three formant resonators.
 */
function voiced(rate: number, ms: number, o: VoicedOpts): Sig {
  const n = len(rate, ms);
  const x = new Float32Array(n);
  const r = prng(o.seed ?? 7);
  const jitter = o.jitter ?? 0.005;
  let next = 0;
  for (let i = 0; i < n; i++) {
    if (i >= next) {
      x[i] = 1;
      const f0 = o.f0 + ((o.f0End ?? o.f0) - o.f0) * (i / n);
      next = i + (rate / f0) * (1 + jitter * gaussian(r));
    }
  }
  // Glottal tilt.
  let y = 0;
  for (let i = 0; i < n; i++) x[i] = y = x[i] + 0.95 * y;
  const [f1, f2, f3] = VOWELS[o.vowel];
  const a = Float32Array.from(x);
  const b = Float32Array.from(x);
  const c = Float32Array.from(x);
  resonate(a, rate, f1, 90);
  resonate(b, rate, f2, 110);
  resonate(c, rate, f3, 170);
  for (let i = 0; i < n; i++) x[i] = a[i] + 0.5 * b[i] + 0.25 * c[i];
  return x;
}

/** Raised-cosine syllable envelope with attack/decay of `edge` of the length. */
function envelope(x: Sig, edge = 0.3): Sig {
  const n = x.length;
  return x.map((v, i) => {
    const t = i / n;
    const e = t < edge ? 0.5 - 0.5 * Math.cos((Math.PI * t) / edge) : t > 1 - edge ? 0.5 - 0.5 * Math.cos((Math.PI * (1 - t)) / edge) : 1;
    return v * e;
  });
}

/** Fricative: band-limited noise burst (s/f/h-like). */
function fricative(rate: number, ms: number, seed: number): Sig {
  const x = noise(rate, ms, -6, seed);
  resonate(x, rate, Math.min(3000, rate * 0.4), 1500);
  return envelope(x, 0.4);
}

/**
 * Continuous speech-like signal: syllables at ~4 Hz (consonant + voiced nucleus with a
 * raised-cosine envelope), wandering intonation, short pauses (120–300 ms) every 3–6 syllables.
 * Active level -20 dBFS.
 */
function speech(rate: number, ms: number, seed = 3): Sig {
  const r = prng(seed);
  const vowels = Object.keys(VOWELS) as (keyof typeof VOWELS)[];
  const parts: Sig[] = [];
  let total = 0;
  let untilPause = 3 + Math.floor(r() * 4);
  const target = len(rate, ms);
  while (total < target) {
    const syl: Sig[] = [];
    const c = r();
    if (c < 0.35) syl.push(fricative(rate, 40 + 50 * r(), Math.floor(r() * 1e6)));
    else if (c < 0.7) syl.push(silence(rate, 30 + 40 * r())); // stop closure
    const f0 = 100 + 40 * r();
    syl.push(envelope(voiced(rate, 140 + 110 * r(), { f0, f0End: f0 * (0.85 + 0.3 * r()), vowel: vowels[Math.floor(r() * vowels.length)], seed: Math.floor(r() * 1e6) })));
    if (--untilPause === 0) {
      syl.push(silence(rate, 120 + 180 * r()));
      untilPause = 3 + Math.floor(r() * 4);
    }
    for (const s of syl) {
      parts.push(s);
      total += s.length;
    }
  }
  return normalise(concat(...parts).subarray(0, target), -20);
}

/** "Hello?": two syllables, ~0.4 s, rising pitch at the end. Active level -20 dBFS. */
function hello(rate: number, seed = 11): Sig {
  return normalise(
    concat(
      fricative(rate, 40, seed),
      envelope(voiced(rate, 130, { f0: 125, f0End: 115, vowel: "e", seed })),
      silence(rate, 25),
      envelope(voiced(rate, 210, { f0: 115, f0End: 165, vowel: "o", seed: seed + 1 }), 0.25),
    ),
    -20,
  );
}

/** A note with harmonics (1, 1/2, 1/3, 1/4) and a plucked decay. */
function note(rate: number, ms: number, hz: number, db: number): Sig {
  const n = len(rate, ms);
  const a = dbToAmp(db);
  return Float32Array.from({ length: n }, (_, i) => {
    const t = i / rate;
    const env = Math.min(1, i / len(rate, 8)) * Math.exp(-t * 3);
    let s = 0;
    for (let h = 1; h <= 4; h++) if (hz * h < rate / 2) s += Math.sin(2 * Math.PI * hz * h * t) / h;
    return a * env * s;
  });
}

/**
 * Music-like background: a melody of harmonic notes (250–400 ms), three-note chords, and a fast
 * arpeggio of pure tones (80 ms each: too short to be a beep).
 */
function music(rate: number, ms: number, db = -20): Sig {
  const scale = [392, 440, 494, 523, 587, 659, 698, 784, 880, 988];
  const r = prng(99);
  const parts: Sig[] = [];
  let total = 0;
  while (total < len(rate, ms)) {
    const kind = r();
    let p: Sig;
    if (kind < 0.4) p = note(rate, 250 + 150 * r(), scale[Math.floor(r() * scale.length)], db);
    else if (kind < 0.7) {
      const root = scale[Math.floor(r() * 5)];
      p = mix(mix(note(rate, 400, root, db - 4), note(rate, 400, root * 1.26, db - 4)), note(rate, 400, root * 1.5, db - 4));
    } else {
      p = concat(...[0, 2, 4, 7, 4, 2].map((j) => tone(rate, 80, scale[j], db)));
    }
    parts.push(p);
    total += p.length;
  }
  return concat(...parts).subarray(0, len(rate, ms));
}

function toPcm(x: Sig): Int16Array {
  return Int16Array.from(x, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32767))));
}

const WAV = "examples/audio/caller-speech.wav";

/** The example recording (a real voice), resampled, or undefined when it is not checked out. */
function loadSpeechWav(rate: number): Sig | undefined {
  if (!existsSync(WAV)) return undefined;
  const wav = new wavefile.WaveFile(readFileSync(WAV));
  wav.toBitDepth("32f");
  if ((wav.fmt as { sampleRate: number }).sampleRate !== rate) wav.toSampleRate(rate);
  const s = wav.getSamples(false, Float32Array) as unknown as Float32Array | Float32Array[];
  return Array.isArray(s) ? s[0] : s;
}

// ---- Running the detector -----------------------------------------------------------------------

interface Outcome {
  decisions: AmdDecision[];
  beeps: number[];
}

function run(x: Sig, rate: number, opts: Partial<AmdOptions> = {}): Outcome {
  const out: Outcome = { decisions: [], beeps: [] };
  const det = new AnsweringMachineDetector({ sampleRate: rate, ...opts }, (d) => out.decisions.push(d), (ms) => out.beeps.push(ms));
  const pcm = toPcm(x);
  const frame = rate / 50;
  for (let i = 0; i + frame <= pcm.length; i += frame) det.push(pcm.subarray(i, i + frame));
  return out;
}

function only(o: Outcome): AmdDecision {
  expect(o.decisions).toHaveLength(1);
  return o.decisions[0];
}

const ms = (rate: number, x: Sig) => (x.length * 1000) / rate;

// ---- Tests --------------------------------------------------------------------------------------

const RATES = [8000, 16000];

/** The "hello?" greetings to test with: always the synthetic one, plus the recording cut to 0.5 s when present. */
function greetings(rate: number): [string, Sig][] {
  const out: [string, Sig][] = [["synthetic", hello(rate)]];
  const wav = loadSpeechWav(rate);
  if (wav) out.push(["recorded", wav.slice(0, len(rate, 500))]);
  return out;
}

/** Recorded machine-like greetings: the synthetic 3–6 s ones, plus the whole recording (4.3 s, real voice). */
function machineGreetings(rate: number): [string, Sig][] {
  const out: [string, Sig][] = [
    ["synthetic 3.5 s", speech(rate, 3500, 3)],
    ["synthetic 5.5 s", speech(rate, 5500, 4)],
  ];
  const wav = loadSpeechWav(rate);
  if (wav) out.push(["recorded 4.3 s", wav]);
  return out;
}

describe("answering-machine detector: human, machine, silence, noise", () => {
  for (const rate of RATES) {
    for (const [name, greeting] of greetings(rate)) {
      it(`${rate} Hz: "hello?" (${name}) then quiet → human, within 2 s of the greeting's end`, () => {
        const lead = 300;
        const x = concat(noise(rate, lead, -60, 1), greeting, noise(rate, 3000, -60, 2));
        const d = only(run(x, rate));
        const greetingEnd = lead + ms(rate, greeting);
        expect(d.result).toBe("human");
        expect(d.reason).toBe("short-greeting");
        expect(d.atMs - greetingEnd).toBeGreaterThanOrEqual(780); // after_greeting_silence, less a partly silent frame
        expect(d.atMs - greetingEnd).toBeLessThanOrEqual(2000);
        expect(d.greetingMs).toBeGreaterThan(250);
        expect(d.greetingMs).toBeLessThanOrEqual(ms(rate, greeting) + 20);
        expect(Math.abs(d.initialSilenceMs! - lead)).toBeLessThanOrEqual(80);
      });
    }

    it(`${rate} Hz: "hello?" over street-level background noise (-40 dBFS, 20 dB SNR) → human`, () => {
      const h = hello(rate);
      const x = mix(concat(silence(rate, 500), h, silence(rate, 3000)), noise(rate, 500 + ms(rate, h) + 3000, -40, 12));
      const d = only(run(x, rate));
      expect(d.result).toBe("human");
      expect(d.atMs - (500 + ms(rate, h))).toBeLessThanOrEqual(2000);
    });

    it(`${rate} Hz: a longer personal greeting (2 s: "hello, this is Mary speaking") then waiting → human (Twilio's speech-end rule)`, () => {
      for (const seed of [1, 2]) {
        const g = speech(rate, 2000, seed);
        const d = only(run(concat(noise(rate, 300, -60, 1), g, noise(rate, 3000, -60, 2)), rate));
        expect(d.result).toBe("human");
        expect(d.atMs - (300 + ms(rate, g))).toBeLessThanOrEqual(1300);
      }
    });

    it(`${rate} Hz: a staccato prompt ("please - enter - your - mailbox - number - now") → machine (max-words)`, () => {
      const parts: Sig[] = [noise(rate, 300, -60, 1)];
      const vowels = ["i", "e", "o", "a", "u", "ae"] as const;
      for (let i = 0; i < 8; i++) parts.push(normalise(envelope(voiced(rate, 180, { f0: 120, f0End: 105, vowel: vowels[i % 6], seed: i })), -20), noise(rate, 150, -60, 20 + i));
      const d = only(run(concat(...parts, noise(rate, 2000, -60, 3)), rate));
      expect(d).toMatchObject({ result: "machine", reason: "max-words" });
      expect(d.atMs).toBeLessThan(300 + 6 * 330);
    });

    it(`${rate} Hz: "hello?" ... "hello?" with a 600 ms pause (one greeting) → human`, () => {
      const h = hello(rate);
      const x = concat(noise(rate, 400, -60, 1), h, noise(rate, 600, -60, 2), hello(rate, 21), noise(rate, 3000, -60, 3));
      const d = only(run(x, rate));
      const secondEnd = 400 + 2 * ms(rate, h) + 600;
      expect(d.result).toBe("human");
      expect(d.atMs).toBeGreaterThan(secondEnd + 700);
      expect(d.atMs - secondEnd).toBeLessThanOrEqual(2000);
      expect(d.greetingMs!).toBeGreaterThan(1200); // both hellos and the pause
    });

    it(`${rate} Hz: "hello?" ... 1.5 s ... "hello?" → human, decided in the first pause`, () => {
      const h = hello(rate);
      const x = concat(noise(rate, 400, -60, 1), h, noise(rate, 1500, -60, 2), hello(rate, 21), noise(rate, 3000, -60, 3));
      const d = only(run(x, rate));
      expect(d.result).toBe("human");
      expect(d.atMs).toBeLessThan(400 + ms(rate, h) + 1500);
    });

    for (const [name, greeting] of machineGreetings(rate)) {
      it(`${rate} Hz: ${name} voicemail greeting, 1 kHz beep → machine within maxDecisionMs, beep ±60 ms`, () => {
        const lead = 500;
        const gap = 400;
        const x = concat(noise(rate, lead, -60, 1), greeting, noise(rate, gap, -60, 2), tone(rate, 300, 1000), noise(rate, 2000, -60, 3));
        const o = run(x, rate, { waitForBeep: true });
        const d = only(o);
        expect(d.result).toBe("machine");
        expect(["long-greeting", "max-words"]).toContain(d.reason);
        expect(d.atMs).toBeLessThanOrEqual(4000);
        expect(d.atMs).toBeGreaterThan(lead + 1500);
        const beepAt = lead + ms(rate, greeting) + gap;
        expect(o.beeps).toHaveLength(1);
        expect(Math.abs(o.beeps[0] - beepAt)).toBeLessThanOrEqual(60);
      });
    }

    it(`${rate} Hz: beep right on the end of the greeting (no gap), 425 Hz and 1900 Hz beeps`, () => {
      for (const hz of [425, 1900]) {
        const g = speech(rate, 4000, 5);
        const x = concat(noise(rate, 300, -60, 1), g, tone(rate, 250, hz, -18), noise(rate, 1000, -60, 3));
        const o = run(x, rate, { waitForBeep: true });
        expect(only(o).result).toBe("machine");
        expect(o.beeps).toHaveLength(1);
        expect(Math.abs(o.beeps[0] - (300 + ms(rate, g)))).toBeLessThanOrEqual(60);
      }
    });

    it(`${rate} Hz: beep through line noise (20 dB SNR) and a telephone band-pass`, () => {
      const g = speech(rate, 4000, 6);
      const clean = concat(silence(rate, 300), g, silence(rate, 500), tone(rate, 300, 850, -20), silence(rate, 1500));
      const x = mix(telephoneBand(clean, rate), noise(rate, ms(rate, clean), -40, 9));
      const o = run(x, rate, { waitForBeep: true });
      expect(only(o).result).toBe("machine");
      expect(o.beeps).toHaveLength(1);
      expect(Math.abs(o.beeps[0] - (300 + ms(rate, g) + 500))).toBeLessThanOrEqual(60);
    });

    it(`${rate} Hz: digital silence only → unknown (initial-silence) at 2.5 s`, () => {
      const o = run(silence(rate, 6000), rate, { waitForBeep: true });
      const d = only(o);
      expect(d).toMatchObject({ result: "unknown", reason: "initial-silence" });
      expect(Math.abs(d.atMs - 2500)).toBeLessThanOrEqual(20);
      expect(d.initialSilenceMs).toBe(d.atMs);
      expect(d.greetingMs).toBeUndefined();
      expect(o.beeps).toHaveLength(0);
    });

    it(`${rate} Hz: line noise only (-55, -40, -30 dBFS; and noise after 500 ms of zeros) → unknown (initial-silence)`, () => {
      for (const x of [
        noise(rate, 6000, -55, 4),
        noise(rate, 6000, -40, 5),
        noise(rate, 6000, -30, 6),
        concat(silence(rate, 500), noise(rate, 5500, -35, 7)),
        telephoneBand(noise(rate, 6000, -30, 8), rate),
      ]) {
        const d = only(run(x, rate));
        expect(d).toMatchObject({ result: "unknown", reason: "initial-silence" });
        expect(Math.abs(d.atMs - 2500)).toBeLessThanOrEqual(20);
      }
    });

    it(`${rate} Hz: greeting after 1.2 s of silence is still judged (initialSilenceMs reported)`, () => {
      const x = concat(noise(rate, 1200, -60, 1), hello(rate), noise(rate, 3000, -60, 2));
      const d = only(run(x, rate));
      expect(d.result).toBe("human");
      expect(Math.abs(d.initialSilenceMs! - 1200)).toBeLessThanOrEqual(80);
    });

    it(`${rate} Hz: hesitant speech (short words, 700 ms pauses) → unknown at maxDecisionMs`, () => {
      const parts: Sig[] = [noise(rate, 300, -60, 1)];
      for (let i = 0; i < 6; i++) parts.push(normalise(envelope(voiced(rate, 160, { f0: 110, vowel: "a", seed: i })), -20), noise(rate, 700, -60, 10 + i));
      const d = only(run(concat(...parts), rate));
      expect(d).toMatchObject({ result: "unknown", reason: "timeout" });
      expect(Math.abs(d.atMs - 4000)).toBeLessThanOrEqual(20);
    });

    it(`${rate} Hz: maxDecisionMs is honoured`, () => {
      const d = only(run(concat(silence(rate, 1000), speech(rate, 4000, 7)), rate, { maxDecisionMs: 2000 }));
      expect(d).toMatchObject({ result: "unknown", reason: "timeout" });
      expect(Math.abs(d.atMs - 2000)).toBeLessThanOrEqual(20);
    });
  }
});

describe("answering-machine detector: the beep", () => {
  for (const rate of RATES) {
    it(`${rate} Hz: no false beep in speech with music (harmonic notes, chords, fast pure-tone arpeggios); the real beep is found`, () => {
      const g = speech(rate, 4500, 8);
      const bed = music(rate, 4500 + 3000, -30);
      const x = concat(noise(rate, 300, -60, 1), mix(concat(g, noise(rate, 3000, -70, 2)), bed), noise(rate, 300, -60, 3), tone(rate, 400, 1000, -15), noise(rate, 1000, -60, 4));
      const o = run(x, rate, { waitForBeep: true, maxBeepWaitMs: 60_000 });
      expect(only(o).result).toBe("machine");
      expect(o.beeps).toHaveLength(1);
      expect(Math.abs(o.beeps[0] - (300 + 7500 + 300))).toBeLessThanOrEqual(60);
    });

    it(`${rate} Hz: music alone (30 s) after the machine decision → no beep`, () => {
      const x = concat(noise(rate, 300, -60, 1), speech(rate, 3500, 9), music(rate, 30_000, -18));
      const o = run(x, rate, { waitForBeep: true, maxBeepWaitMs: 60_000 });
      expect(only(o).result).toBe("machine");
      expect(o.beeps).toEqual([]);
    });

    it(`${rate} Hz: sustained vowels (F0 100–250 Hz, every vowel, wide and telephone band) → no beep; then the beep`, () => {
      const vowels: Sig[] = [];
      for (const f0 of [100, 130, 160, 190, 220, 250]) {
        for (const v of Object.keys(VOWELS) as (keyof typeof VOWELS)[]) {
          // A steady "helloooo"-like vowel: 700 ms, normal jitter, a slight fall in pitch.
          vowels.push(normalise(envelope(voiced(rate, 700, { f0, f0End: f0 * 0.97, vowel: v, seed: f0 }), 0.1), -16), silence(rate, 100));
        }
      }
      const held = concat(...vowels);
      for (const body of [held, telephoneBand(held, rate)]) {
        const x = concat(noise(rate, 300, -60, 1), speech(rate, 3500, 10), body, silence(rate, 200), tone(rate, 300, 1000, -15), silence(rate, 500));
        const o = run(x, rate, { waitForBeep: true, maxBeepWaitMs: 120_000 });
        expect(only(o).result).toBe("machine");
        expect(o.beeps).toHaveLength(1);
        expect(Math.abs(o.beeps[0] - (300 + 3500 + ms(rate, body) + 200))).toBeLessThanOrEqual(60);
      }
    });

    it(`${rate} Hz: a tone shorter than a beep (100 ms) is not a beep`, () => {
      const x = concat(noise(rate, 300, -60, 1), speech(rate, 3500, 11), silence(rate, 300), tone(rate, 100, 1000, -15), silence(rate, 2000));
      const o = run(x, rate, { waitForBeep: true });
      expect(only(o).result).toBe("machine");
      expect(o.beeps).toEqual([]);
    });

    it(`${rate} Hz: gives up after maxBeepWaitMs (onBeep never called); no beep search without waitForBeep`, () => {
      const g = speech(rate, 3500, 12);
      const x = concat(noise(rate, 300, -60, 1), g, silence(rate, 3000), tone(rate, 500, 1000, -15), silence(rate, 1000));
      const waited = run(x, rate, { waitForBeep: true, maxBeepWaitMs: 1000 });
      expect(only(waited).result).toBe("machine");
      expect(waited.beeps).toEqual([]);
      const plain = run(x, rate);
      expect(only(plain).result).toBe("machine");
      expect(plain.beeps).toEqual([]);
      // The same audio with the default wait finds it.
      const found = run(x, rate, { waitForBeep: true });
      expect(found.beeps).toHaveLength(1);
      expect(Math.abs(found.beeps[0] - (300 + 3500 + 3000))).toBeLessThanOrEqual(60);
    });

    it(`${rate} Hz: short voicemail ("hi, leave a message" + beep) → machine by the beep, onBeep at once`, () => {
      const g = speech(rate, 1000, 13);
      const x = concat(noise(rate, 300, -60, 1), g, silence(rate, 300), tone(rate, 300, 1000, -15), silence(rate, 2000));
      const o = run(x, rate, { waitForBeep: true });
      const d = only(o);
      expect(d).toMatchObject({ result: "machine", reason: "beep" });
      expect(o.beeps).toHaveLength(1);
      expect(Math.abs(o.beeps[0] - 1600)).toBeLessThanOrEqual(60);
      expect(d.atMs).toBeLessThan(1600 + 300);
      // Without waitForBeep: the same machine verdict, no onBeep.
      const plain = run(x, rate);
      expect(only(plain)).toMatchObject({ result: "machine", reason: "beep" });
      expect(plain.beeps).toEqual([]);
    });
  }

  it("48 kHz and 10 ms frames work the same", () => {
    const rate = 48000;
    const g = speech(rate, 4000, 14);
    const x = concat(noise(rate, 300, -60, 1), g, silence(rate, 400), tone(rate, 300, 1400, -15), silence(rate, 1000));
    const out: Outcome = { decisions: [], beeps: [] };
    const det = new AnsweringMachineDetector({ sampleRate: rate, waitForBeep: true }, (d) => out.decisions.push(d), (t) => out.beeps.push(t));
    const pcm = toPcm(x);
    const frame = rate / 100;
    for (let i = 0; i + frame <= pcm.length; i += frame) det.push(pcm.subarray(i, i + frame));
    expect(only(out).result).toBe("machine");
    expect(out.beeps).toHaveLength(1);
    expect(Math.abs(out.beeps[0] - (300 + 4000 + 400))).toBeLessThanOrEqual(60);
  });
});

describe("answering-machine detector: contract", () => {
  it("rejects sample rates outside 8000..48000 and bad limits", () => {
    expect(() => new AnsweringMachineDetector({ sampleRate: 7999 }, () => {})).toThrow(RangeError);
    expect(() => new AnsweringMachineDetector({ sampleRate: 48001 }, () => {})).toThrow(RangeError);
    expect(() => new AnsweringMachineDetector({ sampleRate: 8000, maxDecisionMs: 0 }, () => {})).toThrow(RangeError);
    expect(() => new AnsweringMachineDetector({ sampleRate: 8000, maxBeepWaitMs: -1 }, () => {})).toThrow(RangeError);
  });

  it("decides exactly once, then ignores audio (empty frames are fine)", () => {
    const rate = 8000;
    const decisions: AmdDecision[] = [];
    const det = new AnsweringMachineDetector({ sampleRate: rate }, (d) => decisions.push(d));
    det.push(new Int16Array(0));
    const pcm = toPcm(concat(silence(rate, 3000), speech(rate, 5000, 15), silence(rate, 3000)));
    for (let i = 0; i + 160 <= pcm.length; i += 160) det.push(pcm.subarray(i, i + 160));
    expect(decisions).toHaveLength(1);
    expect(decisions[0].reason).toBe("initial-silence");
  });

  it("keeps up with real time by a wide margin (48 kHz, beep search running, 30 s)", () => {
    const rate = 48000;
    const pcm = toPcm(concat(speech(rate, 3500, 16), music(rate, 26_500, -18)));
    const det = new AnsweringMachineDetector({ sampleRate: rate, waitForBeep: true, maxBeepWaitMs: 120_000 }, () => {});
    const frame = rate / 50;
    const t0 = performance.now();
    for (let i = 0; i + frame <= pcm.length; i += frame) det.push(pcm.subarray(i, i + frame));
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeLessThan(1500); // 30 s of audio (1500 frames); typically ~35 ms
  });
});

import { describe, expect, it } from "vitest";
import { DtmfDetector } from "../bridge/dtmf-detector.ts";
import { loadWav } from "../twin/caller/source.ts";

const FREQS: Record<string, [number, number]> = {};
"123A456B789C*0#D".split("").forEach((d, i) => (FREQS[d] = [[697, 770, 852, 941][Math.floor(i / 4)], [1209, 1336, 1477, 1633][i % 4]]));

function dtmf(digits: string, rate: number, toneMs = 70, gapMs = 70, dbfs = -10): Int16Array {
  const out: number[] = [];
  const amp = 32767 * 10 ** (dbfs / 20);
  for (const d of digits) {
    const [a, b] = FREQS[d];
    for (let i = 0; i < (rate * toneMs) / 1000; i++) out.push(amp * (Math.sin((2 * Math.PI * a * i) / rate) + Math.sin((2 * Math.PI * b * i) / rate)));
    for (let i = 0; i < (rate * gapMs) / 1000; i++) out.push(0);
  }
  return Int16Array.from(out, Math.round);
}

function detect(pcm: Int16Array, rate: number): string {
  let got = "";
  const det = new DtmfDetector(rate, (d) => (got += d));
  const frame = rate / 50;
  for (let i = 0; i < pcm.length; i += frame) det.push(pcm.subarray(i, i + frame));
  return got;
}

describe("in-band DTMF detector (unit; the through-Opus test is e2e)", () => {
  for (const rate of [8000, 16000, 24000, 48000]) {
    it(`detects all 16 digits once each at ${rate} Hz`, () => {
      expect(detect(dtmf("123A456B789C*0#D", rate), rate)).toBe("123A456B789C*0#D");
    });
  }
  it("detects repeated digits separated by a gap", () => {
    expect(detect(dtmf("1100", 8000), 8000)).toBe("1100");
  });
  it("ignores a single tone, noise and too-short bursts", () => {
    const rate = 8000;
    const tone = Int16Array.from({ length: 8000 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 697 * i) / rate)));
    expect(detect(tone, rate)).toBe("");
    const noise = Int16Array.from({ length: 16000 }, () => Math.round((Math.random() - 0.5) * 16000));
    expect(detect(noise, rate)).toBe("");
    expect(detect(dtmf("5", rate, 20, 100), rate)).toBe("");
  });
  it("finds no digit in speech", () => {
    const wav = "examples/audio/caller-speech.wav";
    for (const rate of [8000, 16000]) {
      const speech = loadWav(wav, rate);
      expect(detect(Int16Array.from(speech, (v) => Math.round(v * 32767)), rate)).toBe("");
    }
  });
});

import { describe, expect, it } from "vitest";
import { goertzelBin, goertzelCoeff, goertzelHannPower, goertzelPower, type GoertzelBin } from "../bridge/goertzel.ts";

const RATE = 8000;
const sine = (hz: number, n: number, amp = 1, phase = 0, dc = 0) => Float64Array.from({ length: n }, (_, i) => dc + amp * Math.sin((2 * Math.PI * hz * i) / RATE + phase));

describe("Goertzel (bridge/goertzel.ts)", () => {
  it("a 1 kHz sine has its power at 1 kHz and next to none at 1.5 kHz", () => {
    const x = sine(1000, 160, 0.5); // 20 ms: a whole number of cycles
    expect(goertzelPower(x, goertzelCoeff(1000, RATE))).toBeCloseTo(0.25, 10); // amplitude²
    expect(goertzelPower(x, goertzelCoeff(1500, RATE))).toBeLessThan(1e-20);
  });

  it("is normalised to amplitude² whatever the block length and rate", () => {
    for (const [n, rate] of [[80, 8000], [400, 16000], [960, 48000]] as const) {
      const x = Float64Array.from({ length: n }, (_, i) => 0.3 * Math.cos((2 * Math.PI * 1000 * i) / rate));
      expect(goertzelPower(x, goertzelCoeff(1000, rate))).toBeCloseTo(0.09, 6);
    }
  });

  it("measures a sub-range and subtracts dc", () => {
    const x = new Float64Array(400);
    x.set(sine(700, 160, 0.2, 0, 0.4), 100);
    const c = goertzelCoeff(700, RATE);
    expect(goertzelPower(x, c, 100, 260, 0.4)).toBeCloseTo(0.04, 8);
    // An offset leaks into low bins off the block's grid (30 Hz: 0.6 cycles in 20 ms) unless removed.
    expect(goertzelPower(x, goertzelCoeff(30, RATE), 100, 260)).toBeGreaterThan(0.1);
    expect(goertzelPower(x, goertzelCoeff(30, RATE), 100, 260, 0.4)).toBeLessThan(1e-3);
  });

  it("works on Int16 samples (power in raw units²)", () => {
    const x = Int16Array.from(sine(1000, 160, 10000), Math.round);
    expect(goertzelPower(x, goertzelCoeff(1000, RATE)) / 1e8).toBeCloseTo(1, 3);
  });

  it("a Hann window keeps the normalisation and cuts a strong neighbour's leakage", () => {
    const n = 160;
    const x = sine(1000, n, 0.5);
    expect(goertzelHannPower(x, goertzelCoeff(1000, RATE))).toBeCloseTo(0.25, 3);
    // 1020 Hz is off the bin grid: the rectangular window leaks it into 1300 Hz, Hann hardly does.
    const off = sine(1020, n, 1);
    const c = goertzelCoeff(1300, RATE);
    expect(goertzelHannPower(off, c)).toBeLessThan(goertzelPower(off, c) / 100);
  });

  it("the bin's phase advance between equal-length blocks is ω times the hop", () => {
    const hz = 1050; // 21 cycles per 160 samples: no image of the negative frequency in the bin
    const hop = 37;
    const x = sine(hz, 160 + hop, 0.5, 0.3);
    const c = goertzelCoeff(hz, RATE);
    const a: GoertzelBin = { re: 0, im: 0 };
    const b: GoertzelBin = { re: 0, im: 0 };
    goertzelBin(x, c, 0, 160, 0, a);
    goertzelBin(x, c, hop, 160 + hop, 0, b);
    const advance = Math.atan2(b.im * a.re - b.re * a.im, b.re * a.re + b.im * a.im);
    const w = (2 * Math.PI * hz) / RATE;
    const expected = w * hop - 2 * Math.PI * Math.round((w * hop) / (2 * Math.PI));
    expect(advance).toBeCloseTo(expected, 6);
    // |bin|² is the same power goertzelPower reports, up to its 4 / n² normalisation.
    expect((4 * (a.re ** 2 + a.im ** 2)) / 160 ** 2).toBeCloseTo(goertzelPower(x, c, 0, 160), 10);
  });
});

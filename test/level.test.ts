import { describe, expect, it } from "vitest";
import { LevelMeter, SILENCE_DBFS } from "../bridge/level.ts";

const tone = (amplitude: number, n = 160, hz = 440, rate = 8000) => Int16Array.from({ length: n }, (_, i) => Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * hz * i) / rate)));

describe("LevelMeter", () => {
  it("reads a tone's RMS in dBFS once it has settled, and silence as the floor", () => {
    const m = new LevelMeter();
    expect(m.dbfs).toBe(SILENCE_DBFS);
    for (let i = 0; i < 20; i++) m.push(tone(0.5));
    // A sine of amplitude 0.5: RMS 0.354, -9.03 dBFS.
    expect(m.dbfs).toBeCloseTo(-9, 0);
    for (let i = 0; i < 50; i++) m.push(tone(0.05));
    expect(m.dbfs).toBeCloseTo(-29, 0);
  });

  it("falls to the floor through silent frames, and through frames with no samples (n = 0)", () => {
    const m = new LevelMeter();
    for (let i = 0; i < 10; i++) m.push(tone(0.5));
    const loud = m.dbfs;
    m.push(new Int16Array(160));
    expect(m.dbfs).toBeLessThan(loud);
    for (let i = 0; i < 200; i++) m.push(tone(0.5), 0);
    expect(m.dbfs).toBe(SILENCE_DBFS);
  });

  it("takes only the first n samples of the buffer", () => {
    const m = new LevelMeter();
    const buf = new Int16Array(480);
    buf.set(tone(0.5));
    for (let i = 0; i < 20; i++) m.push(buf, 160);
    expect(m.dbfs).toBeCloseTo(-9, 0);
  });
});

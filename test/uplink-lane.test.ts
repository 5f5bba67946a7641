/**
 * The fast uplink's reordering by RTP timestamp (browser/uplink-lane.ts): at most one packet held
 * back, holes it cannot fill become counted gaps, late and duplicate packets dropped.
 */
import { describe, expect, it } from "vitest";
import { MAX_GAP_MS, UplinkLane, opusTicks } from "../browser/uplink-lane.ts";
import { Resampler } from "../browser/uplink-resample.ts";
import { goertzel } from "../twin/caller/analysis.ts";

const TICKS = 160;

/** A lane at 8 kHz whose output is a list: "a<n>" for packet n's audio, "g<ticks>" / "q<ticks>" for a counted / quiet gap. */
function lane(base = 1000) {
  const out: string[] = [];
  const l = new UplinkLane({ audio: (p) => out.push(`a${(((p.ts - base) >>> 0) / TICKS) | 0}`), gap: (ticks, counted) => out.push(`${counted ? "g" : "q"}${ticks}`) }, 8000);
  const push = (n: number, ssrc = 1) => l.push({ ts: (base + n * TICKS) >>> 0, ticks: TICKS, payload: new Uint8Array(TICKS) }, ssrc);
  return { l, out, push };
}

describe("uplink lane", () => {
  it("passes packets in order straight through", () => {
    const { l, out, push } = lane();
    for (let n = 0; n < 4; n++) push(n);
    expect(out).toEqual(["a0", "a1", "a2", "a3"]);
    expect(l.holding).toBe(false);
  });

  it("puts two swapped packets back in order, no gap", () => {
    const { l, out, push } = lane();
    push(0);
    push(2);
    expect(l.holding).toBe(true);
    push(1);
    push(3);
    expect(out).toEqual(["a0", "a1", "a2", "a3"]);
    expect(l.late).toBe(0);
  });

  it("takes a hole two later packets skip over as lost, and drops the packet when it comes after all", () => {
    const { l, out, push } = lane();
    push(0);
    push(2);
    push(3);
    push(1);
    expect(out).toEqual(["a0", `g${TICKS}`, "a2", "a3"]);
    expect(l.late).toBe(1);
  });

  it("drops duplicates, of what was released and of what is held", () => {
    const { l, out, push } = lane();
    push(0);
    push(0);
    push(2);
    push(2);
    push(1);
    expect(out).toEqual(["a0", "a1", "a2"]);
    expect(l.late).toBe(2);
  });

  it("flush releases the held packet with its hole as a gap", () => {
    const { l, out, push } = lane();
    push(0);
    push(3);
    l.flush();
    expect(out).toEqual(["a0", `g${2 * TICKS}`, "a3"]);
    expect(l.holding).toBe(false);
  });

  it("a hole after a telephone event is filled but not counted", () => {
    const { l, out, push } = lane();
    push(0);
    l.notAudio();
    push(5);
    l.flush();
    expect(out).toEqual(["a0", `q${4 * TICKS}`, "a5"]);
  });

  it("follows the timestamp through its 32-bit wrap", () => {
    const { out, push } = lane(2 ** 32 - TICKS);
    push(0);
    push(2);
    push(1);
    expect(out).toEqual(["a0", "a1", "a2"]);
  });

  it("starts over on a new SSRC, and bounds one silence fill", () => {
    const { l, out, push } = lane();
    push(0, 1);
    push(900, 2);
    push(901, 2);
    expect(out).toEqual(["a0", "a900", "a901"]);
    push(2000, 2);
    l.flush();
    expect(out.slice(3)).toEqual([`g${(8000 * MAX_GAP_MS) / 1000}`, "a2000"]);
  });
});

describe("opusTicks", () => {
  it("reads the frame length and count from the TOC byte", () => {
    expect(opusTicks(new Uint8Array([(9 << 3) | 0, 1]))).toBe(960); // SILK WB 20 ms, one frame
    expect(opusTicks(new Uint8Array([(11 << 3) | 0, 1]))).toBe(2880); // SILK WB 60 ms
    expect(opusTicks(new Uint8Array([(31 << 3) | 1, 1, 2]))).toBe(1920); // CELT 20 ms, two frames
    expect(opusTicks(new Uint8Array([(16 << 3) | 3, 3]))).toBe(360); // CELT 2.5 ms × 3
    expect(opusTicks(new Uint8Array([]))).toBe(0);
  });
});

describe("uplink resampler", () => {
  it("brings 48 kHz to 16 kHz: a third of the samples, the tone kept, nothing above Nyquist let through", () => {
    const r = new Resampler(48000, 16000);
    const out: number[] = [];
    const tone = (hz: number) => Float32Array.from({ length: 48000 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * hz * i) / 48000));
    // In 20 ms pieces, as packets come.
    const input = tone(1000);
    for (let i = 0; i < input.length; i += 960) r.push(input.subarray(i, i + 960), (v) => out.push(v));
    expect(out.length).toBe(16000);
    const at = goertzel(out, 4000, 8000, 1000, 16000);
    expect(at).toBeGreaterThan(goertzel(out, 4000, 8000, 1100, 16000) * 100);
    const alias: number[] = [];
    const high = tone(10000);
    const r2 = new Resampler(48000, 16000);
    r2.push(high, (v) => alias.push(v));
    // 10 kHz would fold to 6 kHz: at least 40 dB down on the 1 kHz tone's power.
    expect(goertzel(alias, 4000, 8000, 6000, 16000)).toBeLessThan(at / 1e4);
  });
});

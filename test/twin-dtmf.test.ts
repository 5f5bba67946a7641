import alawmulaw from "alawmulaw";
import { RTCPeerConnection, RTCRtpCodecParameters, type RtpPacket } from "werift";
import { describe, expect, it } from "vitest";
import { goertzel, rmsDbfs } from "../twin/caller/analysis.ts";
import { opusCodec, pcmuCodec } from "../twin/caller/codec.ts";
import {
  CallerVoice,
  DTMF_FREQS,
  DTMF_HIGH_HZ,
  DTMF_LOW_HZ,
  INBAND_DTMF_DBFS,
  Rfc4733Events,
  dtmfEventCode,
  newDigits,
  parseTelephoneEvent,
} from "../twin/caller/dtmf.ts";
import { CallerPeer } from "../twin/caller/peer.ts";
import { createSource } from "../twin/caller/source.ts";

const ALL = "123A456B789C*0#D";
const db = (power: number) => 10 * Math.log10(power + 1e-20);

/**
 * Renders what the caller would send, frame by frame exactly as CallerPeer.sendFrame does
 * (20 ms frames through CallerVoice), with a synthetic clock: frame k goes out at k*20 ms.
 */
function render(play: string, rate: number, digits: string, toneMs: number, gapMs: number) {
  const voice = new CallerVoice(createSource(play, rate), rate);
  const records = newDigits(digits, "inband", toneMs, 0);
  voice.dtmf.enqueue(records, { toneMs, gapMs });
  const frameLen = (rate * 20) / 1000;
  const frames: Float32Array[] = [];
  for (let k = 0; voice.dtmf.busy || k < 5; k++) {
    const frame = new Float32Array(frameLen);
    voice.read(frame, k * 20);
    frames.push(frame);
  }
  const out = new Float32Array(frames.length * frameLen);
  frames.forEach((f, k) => out.set(f, k * frameLen));
  return { samples: out, records };
}

/** Goertzel level (dBFS) of each of the 8 DTMF frequencies over one tone. */
function dtmfLevels(samples: ArrayLike<number>, from: number, length: number, rate: number) {
  const levels = new Map<number, number>();
  for (const hz of [...DTMF_LOW_HZ, ...DTMF_HIGH_HZ]) levels.set(hz, db(goertzel(samples, from, length, hz, rate)));
  return levels;
}

/** Every digit's two frequencies at about -10 dBFS, each of the other six at least `marginDb` below the weaker of them. */
function expectDigits(samples: ArrayLike<number>, rate: number, digits: string, toneMs: number, gapMs: number, marginDb: number, levelTolDb: number) {
  const seen: Array<{ digit: string; low: number; high: number; worstOther: number }> = [];
  for (const [i, digit] of [...digits].entries()) {
    // The middle of each tone (skip 5 ms at each edge: ramps, and codec attack for encoded audio).
    const from = Math.round(((i * (toneMs + gapMs) + 5) * rate) / 1000);
    const length = Math.round(((toneMs - 10) * rate) / 1000);
    const levels = dtmfLevels(samples, from, length, rate);
    const [lowHz, highHz] = DTMF_FREQS[digit];
    const low = levels.get(lowHz)!;
    const high = levels.get(highHz)!;
    const worstOther = Math.max(...[...levels].filter(([hz]) => hz !== lowHz && hz !== highHz).map(([, v]) => v));
    seen.push({ digit, low, high, worstOther });
    expect(Math.abs(low - INBAND_DTMF_DBFS), `digit ${digit} low tone ${lowHz} Hz at ${low.toFixed(1)} dBFS`).toBeLessThan(levelTolDb);
    expect(Math.abs(high - INBAND_DTMF_DBFS), `digit ${digit} high tone ${highHz} Hz at ${high.toFixed(1)} dBFS`).toBeLessThan(levelTolDb);
    expect(Math.min(low, high) - worstOther, `digit ${digit}: other DTMF frequencies too strong`).toBeGreaterThan(marginDb);
  }
  return seen;
}

describe("caller DTMF, in-band", () => {
  for (const rate of [8000, 48000]) {
    it(`renders the 16 digits as their two DTMF frequencies at -10 dBFS each (${rate} Hz)`, () => {
      const { samples, records } = render("silence", rate, ALL, 70, 70);
      // A 60 ms Goertzel block leaks about -22 dB into a neighbour 73 Hz away: that, not the signal, bounds the margin.
      const seen = expectDigits(samples, rate, ALL, 70, 70, 18, 0.5);
      // Gaps are silent.
      for (let i = 0; i < ALL.length; i++) {
        const from = Math.round(((i * 140 + 72) * rate) / 1000);
        expect(rmsDbfs(samples, from, from + Math.round((66 * rate) / 1000))).toBeLessThan(-90);
      }
      // Wall-clock timestamps follow the frames they went out in: digit i starts at i*140 ms and lasts 70 ms.
      records.forEach((r, i) => {
        expect(r.startedAtMs).toBe(i * 140);
        expect(r.endedAtMs).toBe(i * 140 + 70);
      });
      expect(seen.length).toBe(16);
    });
  }

  it("digits dominate when mixed over the caller's tone", () => {
    const { samples } = render("tone:440@-20", 8000, ALL, 70, 70);
    // The 440 Hz tone is not a DTMF frequency: the digits' pairs stay on top.
    expectDigits(samples, 8000, ALL, 70, 70, 15, 0.5);
  });

  it("survive PCMU and Opus encoding (what the caller really sends)", () => {
    const timing = { toneMs: 70, gapMs: 70 };
    for (const [rate, codec] of [
      [8000, pcmuCodec()],
      [48000, opusCodec()],
    ] as const) {
      const { samples } = render("silence", rate, ALL, timing.toneMs, timing.gapMs);
      const frame = (rate * 20) / 1000;
      const decoded = new Float32Array(samples.length);
      const pcm = new Int16Array(frame);
      for (let at = 0; at + frame <= samples.length; at += frame) {
        for (let i = 0; i < frame; i++) pcm[i] = Math.round(samples[at + i] * 32767);
        const back = codec.decode(codec.encode(pcm));
        for (let i = 0; i < back.length; i++) decoded[at + i] = back[i] / 32768;
      }
      codec.close();
      // Opus delays its output by a few ms (look-ahead): find the delay, then measure each tone.
      const lag = codec.name === "opus" ? bestLag(samples, decoded, Math.round(0.01 * rate)) : 0;
      const aligned = decoded.subarray(lag);
      expectDigits(aligned, rate, ALL, timing.toneMs, timing.gapMs, 15, 1.5);
    }
  });
});

/** The shift (0..maxLag samples) that best lines `b` up behind `a`. */
function bestLag(a: Float32Array, b: Float32Array, maxLag: number): number {
  let best = 0;
  let bestScore = -Infinity;
  const n = Math.min(a.length, b.length) - maxLag;
  for (let lag = 0; lag <= maxLag; lag++) {
    let s = 0;
    for (let i = 0; i < n; i += 4) s += a[i] * b[i + lag];
    if (s > bestScore) [bestScore, best] = [s, lag];
  }
  return best;
}

describe("caller DTMF, RFC 4733", () => {
  it("maps digits to event codes", () => {
    expect([..."0123456789*#ABCD"].map(dtmfEventCode)).toEqual([...Array(16).keys()]);
    expect(() => dtmfEventCode("E")).toThrow();
  });

  it("sends updates with growing duration, then the end packet three times, all on the event's start timestamp", () => {
    const events = new Rfc4733Events(8000, 20);
    const records = newDigits("5#", "rfc4733", events.roundedToneMs(70), 0);
    events.enqueue(records, { toneMs: 70, gapMs: 70 });
    const ticks: Array<Array<{ event: number; end: boolean; volume: number; duration: number; marker: boolean; timestamp: number }> | undefined> = [];
    // The audio stream is Opus: 960 timestamp units per 20 ms.
    for (let k = 0; k < 20; k++) {
      const pkts = events.tick(1000 + k * 960, k * 20);
      ticks.push(pkts?.map((p) => ({ ...parseTelephoneEvent(p.payload), marker: p.marker, timestamp: p.timestamp })));
    }
    // 70 ms → 4 packets of 20 ms; gap 70 ms → 4 audio ticks; then "#".
    const first = ticks.slice(0, 4);
    expect(first.map((t) => t?.length)).toEqual([1, 1, 1, 3]);
    expect(first.flat().map((p) => p!.duration)).toEqual([160, 320, 480, 640, 640, 640]);
    expect(first.flat().map((p) => p!.end)).toEqual([false, false, false, true, true, true]);
    expect(first.flat().map((p) => p!.marker)).toEqual([true, false, false, false, false, false]);
    expect(new Set(first.flat().map((p) => p!.timestamp))).toEqual(new Set([1000]));
    expect(first.flat().every((p) => p!.event === 5 && p!.volume === 10)).toBe(true);
    expect(ticks.slice(4, 8)).toEqual([undefined, undefined, undefined, undefined]);
    const second = ticks.slice(8, 12).flat();
    expect(second.map((p) => p!.event)).toEqual([11, 11, 11, 11, 11, 11]);
    expect(second[0]!.timestamp).toBe(1000 + 8 * 960);
    expect(ticks.slice(12).every((t) => t === undefined)).toBe(true);
    expect(records.map((r) => [r.startedAtMs, r.endedAtMs, r.toneMs])).toEqual([
      [0, 80, 80],
      [160, 240, 80],
    ]);
  });

  it("goes out on a real WebRTC stream with the negotiated telephone-event payload type (werift far end)", async () => {
    const caller = new CallerPeer("silence", ["PCMU"]);
    const far = new RTCPeerConnection({
      codecs: {
        audio: [
          new RTCRtpCodecParameters({ mimeType: "audio/PCMU", clockRate: 8000, channels: 1, payloadType: 0 }),
          new RTCRtpCodecParameters({ mimeType: "audio/telephone-event", clockRate: 8000, channels: 1, payloadType: 101 }),
        ],
      },
      iceInterfaceAddresses: { udp4: "127.0.0.1" },
      iceAdditionalHostAddresses: ["127.0.0.1"],
      iceUseIpv6: false,
    });
    const packets: RtpPacket[] = [];
    far.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => packets.push(rtp)));
    try {
      const offer = await caller.createOffer();
      await far.setRemoteDescription({ type: "offer", sdp: offer });
      await far.setLocalDescription(await far.createAnswer());
      await caller.acceptAnswer(far.localDescription!.sdp);
      await waitFor(() => packets.length > 5, 5000);
      expect(caller.canSendEvents).toBe(true);
      const events = caller.sendDtmf("7*", "rfc4733", { toneMs: 60, gapMs: 40 });
      await waitFor(() => events.every((d) => d.endedAtMs !== null), 3000);
      // In-band after the events: while an event lasts its packets replace the audio frames.
      const inband = caller.sendDtmf("9", "inband", { toneMs: 80, gapMs: 40 });
      await waitFor(() => inband.every((d) => d.endedAtMs !== null), 3000);
      await new Promise((r) => setTimeout(r, 200));

      const te = packets.filter((p) => p.header.payloadType === 101).map((p) => ({ ...parseTelephoneEvent(p.payload), ts: p.header.timestamp, seq: p.header.sequenceNumber, m: p.header.marker }));
      // 60 ms → 3 packets: 2 updates and the end packet ×3, per digit.
      expect(te.map((e) => e.event)).toEqual([7, 7, 7, 7, 7, 10, 10, 10, 10, 10]);
      expect(te.map((e) => e.duration)).toEqual([160, 320, 480, 480, 480, 160, 320, 480, 480, 480]);
      expect(te.filter((e) => e.end).length).toBe(6);
      expect(te.filter((e) => e.m).length).toBe(2);
      // Audio and events share one sequence space with no holes (the recorder-visible stream stays whole).
      const seqs = packets.map((p) => p.header.sequenceNumber);
      const holes = seqs.slice(1).filter((s, i) => ((s - seqs[i] + 0x10000) & 0xffff) !== 1).length;
      expect(holes).toBe(0);
      // Each event's timestamp sits on the audio timeline (its start), ahead of the audio sent before it.
      const firstEvent = packets.findIndex((p) => p.header.payloadType === 101);
      expect(packets[firstEvent].header.timestamp).toBe((packets[firstEvent - 1].header.timestamp + 160) >>> 0);

      // The in-band "9" arrives as 852 + 1477 Hz in the decoded PCMU.
      const audio = packets.filter((p) => p.header.payloadType === 0);
      const pcm = new Float32Array(audio.length * 160);
      audio.forEach((p, k) => alawmulaw.mulaw.decode(p.payload).forEach((v, i) => (pcm[k * 160 + i] = v / 32768)));
      let best = { at: 0, level: -Infinity };
      for (let at = 0; at + 400 <= pcm.length; at += 40) {
        const level = Math.min(db(goertzel(pcm, at, 400, 852, 8000)), db(goertzel(pcm, at, 400, 1477, 8000)));
        if (level > best.level) best = { at, level };
      }
      expect(best.level).toBeGreaterThan(INBAND_DTMF_DBFS - 1.5);
      const others = [697, 770, 941, 1209, 1336, 1633].map((hz) => db(goertzel(pcm, best.at, 400, hz, 8000)));
      expect(Math.max(...others)).toBeLessThan(best.level - 20);
    } finally {
      await caller.close();
      await far.close();
    }
  });
});

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

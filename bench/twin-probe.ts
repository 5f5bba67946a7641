/**
 * Preloaded into the twin's process by the bench (`node --import tsx --import ./bench/twin-probe.ts
 * twin/cli.ts`): sharper wall-clock anchors for the caller's audio, by wrapping two twin methods
 * at run time (no twin file is changed). Both land in the recording's ICMT tag, next to the
 * twin's own `startedAtMs`:
 *
 *  - `anchorMs`: the twin anchors its recording at the arrival of the first RTP packet, so a
 *    first packet handled late (the twin busy setting the call up, or compiling its Opus codec on
 *    the first Opus call) shifts every "heard" time of the call by that much. The anchor used
 *    here is min over all packets of (arrival − the packet's media time): the least-delayed
 *    packet fixes where sample 0 would have been heard.
 *  - `anchors`: the same minimum per 500 ms of media time. The sender's RTP clock can slip
 *    against the wall clock within a call (tens of ms seen), so a figure taken at one moment is
 *    placed with the anchor of the audio around it (bench/audio.ts `localAnchor`).
 *  - `firstDueMs` and `late`: the caller's first frame's due time (its frame clock's zero), and
 *    how late each frame really went out when the twin's 20 ms tick ran late (`index:ms`, over
 *    1 ms only), so a caller burst's send time is exact.
 */
import wavefile from "wavefile";
import { Recorder } from "../twin/caller/recorder.ts";
import { CallerPeer } from "../twin/caller/peer.ts";

/** Media time per entry of `anchors`. */
const ANCHOR_BUCKET_MS = 500;

interface Probe {
  minOffsetMs: number;
  /** min(arrival − media time) per ANCHOR_BUCKET_MS of media time. */
  bucketMinMs: number[];
  firstDueMs: number | undefined;
  late: string[];
}

interface RecorderInternals {
  firstTs: number | undefined;
  tsWraps: number;
  clockRate: number;
  rate: number;
  startedAtMs: number | undefined;
  samples(): Float32Array;
}

const probes = new WeakMap<Recorder, Probe>();
const probeOf = (r: Recorder): Probe => {
  let p = probes.get(r);
  if (!p) probes.set(r, (p = { minOffsetMs: Infinity, bucketMinMs: [], firstDueMs: undefined, late: [] }));
  return p;
};

const push = Recorder.prototype.push;
Recorder.prototype.push = function (this: Recorder, seq: number, ts: number, pcm: Int16Array, arrivalMs = Date.now()) {
  push.call(this, seq, ts, pcm, arrivalMs);
  const r = this as unknown as RecorderInternals;
  const mediaMs = ((ts + r.tsWraps * 0x100000000 - r.firstTs!) * 1000) / r.clockRate;
  const p = probeOf(this);
  if (arrivalMs - mediaMs < p.minOffsetMs) p.minOffsetMs = arrivalMs - mediaMs;
  const b = Math.floor(mediaMs / ANCHOR_BUCKET_MS);
  if (b >= 0 && b < 100_000 && !(arrivalMs - mediaMs >= p.bucketMinMs[b])) p.bucketMinMs[b] = arrivalMs - mediaMs;
};

Recorder.prototype.wav = function (this: Recorder) {
  const r = this as unknown as RecorderInternals;
  const p = probeOf(this);
  const wav = new wavefile.WaveFile();
  const s = r.samples();
  const pcm = new Int16Array(s.length);
  for (let i = 0; i < s.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(s[i] * 32768)));
  wav.fromScratch(1, r.rate, "16", pcm);
  const fields = [`startedAtMs=${r.startedAtMs}`];
  if (Number.isFinite(p.minOffsetMs)) fields.push(`anchorMs=${p.minOffsetMs.toFixed(2)}`, `anchors=${ANCHOR_BUCKET_MS}:${Array.from(p.bucketMinMs, (x) => (x === undefined ? "" : x.toFixed(2))).join(",")}`);
  if (p.firstDueMs !== undefined) fields.push(`firstDueMs=${p.firstDueMs.toFixed(2)}`, `late=${p.late.slice(0, 3000).join(",")}`);
  if (r.startedAtMs !== undefined) wav.setTag("ICMT", fields.join(";"));
  return Buffer.from(wav.toBuffer());
};

type SendFrame = (this: CallerPeer, dueAtMs: number) => void;
const proto = CallerPeer.prototype as unknown as { sendFrame: SendFrame };
const sendFrame = proto.sendFrame;
proto.sendFrame = function (this: CallerPeer, dueAtMs: number) {
  const lateMs = performance.timeOrigin + performance.now() - dueAtMs;
  sendFrame.call(this, dueAtMs);
  if (!this.recorder) return;
  const p = probeOf(this.recorder);
  p.firstDueMs ??= dueAtMs;
  if (lateMs > 1) p.late.push(`${Math.round((dueAtMs - p.firstDueMs) / 20)}:${lateMs.toFixed(1)}`);
};

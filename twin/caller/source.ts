import { readFileSync } from "node:fs";
import wavefile from "wavefile";

/**
 * What the caller says: a tone, a WAV file, or silence, rendered at the codec's rate.
 * `play` specs (docs/twin.md): "tone:440", "tone:440@-12" (dBFS), "silence",
 * "wav:/path/file.wav", or a sequence joined by "," with durations: "tone:440/2000,silence/500".
 */
export interface AudioSource {
  /** Fills `out` with the next samples (float, -1..1); returns false once the source has ended. */
  read(out: Float32Array): boolean;
}

interface Segment {
  kind: "tone" | "silence" | "wav";
  hz?: number;
  gain?: number;
  path?: string;
  /** Omitted: plays until the call ends (tone/silence) or the file ends (wav). */
  durationMs?: number;
}

export function parsePlaySpec(spec: string): Segment[] {
  return spec.split(",").map((part) => {
    // A WAV path may hold slashes: "/MS" after it counts as a duration only behind a ".wav" name.
    const w = part.trim().match(/^wav:(.+?\.wav)(?:\/(\d+))?$/i) ?? part.trim().match(/^wav:(.+)$/);
    if (w) return { kind: "wav" as const, path: w[1], durationMs: w[2] === undefined ? undefined : Number(w[2]) };
    const m = part.trim().match(/^(tone|silence|wav):?([^/]*?)(?:\/(\d+))?$/);
    if (!m) throw new Error(`bad play spec part "${part}": use tone:HZ[@DBFS][/MS], silence[/MS] or wav:PATH[/MS]`);
    const [, kind, arg, dur] = m;
    const durationMs = dur === undefined ? undefined : Number(dur);
    if (kind === "tone") {
      const t = arg.match(/^(\d+(?:\.\d+)?)(?:@(-?\d+(?:\.\d+)?))?$/);
      if (!t) throw new Error(`bad tone "${arg}": use tone:440 or tone:440@-12`);
      const dbfs = t[2] === undefined ? -12 : Number(t[2]);
      return { kind, hz: Number(t[1]), gain: 10 ** (dbfs / 20), durationMs };
    }
    if (kind === "wav") {
      if (!arg) throw new Error("wav: needs a path");
      return { kind, path: arg, durationMs };
    }
    return { kind: "silence", durationMs };
  });
}

/** Parses a spec and checks that every WAV it names can be read: what the control API does before a call starts. */
export function checkPlaySpec(spec: string): void {
  for (const seg of parsePlaySpec(spec)) {
    if (seg.kind !== "wav") continue;
    let bytes: Buffer;
    try {
      bytes = readFileSync(seg.path!);
    } catch (err) {
      throw new Error(`cannot read ${seg.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      new wavefile.WaveFile(bytes);
    } catch (err) {
      throw new Error(`${seg.path} is not a WAV file: ${(err as Error).message}`);
    }
  }
}

/**
 * Decoded WAVs by path and rate. Resampling runs on the twin's event loop (≈ 2.4 µs a sample), so
 * a file is decoded once, and before the call connects (preloadSpec), never while callers are
 * sending: a stall there would shift every caller's audio and spoil latency measurements.
 */
const decoded = new Map<string, Float32Array>();
const MAX_DECODED = 16;

/** Decodes the WAVs of a play spec for the given rates ahead of time. */
export function preloadSpec(spec: string, rates: number[]): void {
  for (const seg of parsePlaySpec(spec)) if (seg.kind === "wav") for (const rate of rates) loadWav(seg.path!, rate);
}

export function loadWav(path: string, rate: number): Float32Array {
  const key = `${rate}:${path}`;
  const hit = decoded.get(key);
  if (hit) return hit;
  const pcm = decodeWav(path, rate);
  if (decoded.size >= MAX_DECODED) decoded.delete(decoded.keys().next().value!);
  decoded.set(key, pcm);
  return pcm;
}

function decodeWav(path: string, rate: number): Float32Array {
  const wav = new wavefile.WaveFile(readFileSync(path));
  wav.toBitDepth("32f");
  if ((wav.fmt as { sampleRate: number }).sampleRate !== rate) wav.toSampleRate(rate);
  const samples = wav.getSamples(false, Float32Array) as unknown as Float32Array | Float32Array[];
  // Mixed down to mono: the call is mono.
  if (Array.isArray(samples)) {
    const mono = new Float32Array(samples[0].length);
    for (const ch of samples) for (let i = 0; i < mono.length; i++) mono[i] += ch[i] / samples.length;
    return mono;
  }
  return samples;
}

export function createSource(spec: string, rate: number): AudioSource {
  const segments = parsePlaySpec(spec).map((s) => ({ ...s, pcm: s.kind === "wav" ? loadWav(s.path!, rate) : undefined }));
  let index = 0;
  let pos = 0; // samples into the current segment
  let phase = 0;
  return {
    read(out) {
      for (let i = 0; i < out.length; i++) {
        const seg = segments[index];
        if (!seg) {
          out.fill(0, i);
          return i > 0;
        }
        const limit = seg.durationMs === undefined ? (seg.pcm ? seg.pcm.length : Infinity) : Math.round((seg.durationMs * rate) / 1000);
        if (pos >= limit) {
          index++;
          pos = 0;
          i--;
          continue;
        }
        if (seg.kind === "tone") {
          out[i] = seg.gain! * Math.sin(phase);
          phase += (2 * Math.PI * seg.hz!) / rate;
          if (phase > 2 * Math.PI) phase -= 2 * Math.PI;
        } else if (seg.pcm) out[i] = pos < seg.pcm.length ? seg.pcm[pos] : 0;
        else out[i] = 0;
        pos++;
      }
      return true;
    },
  };
}

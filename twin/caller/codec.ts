import alawmulaw from "alawmulaw";
import OpusScript from "opusscript";

/** The caller's side of a negotiated audio codec: 20 ms frames in and out. */
export interface AudioCodec {
  name: "PCMU" | "opus";
  payloadType: number;
  /** Sample rate of the PCM the codec takes and gives. */
  rate: number;
  /** RTP clock rate (48 kHz for Opus whatever its PCM rate). */
  clockRate: number;
  samplesPerFrame: number;
  encode(pcm: Int16Array): Buffer;
  decode(payload: Buffer): Int16Array;
  close(): void;
}

export function pcmuCodec(payloadType = 0): AudioCodec {
  return {
    name: "PCMU",
    payloadType,
    rate: 8000,
    clockRate: 8000,
    samplesPerFrame: 160,
    encode: (pcm) => Buffer.from(alawmulaw.mulaw.encode(pcm)),
    decode: (payload) => alawmulaw.mulaw.decode(payload),
    close() {},
  };
}

export function opusCodec(payloadType = 111): AudioCodec {
  const rate = 48000;
  const encoder = new OpusScript(rate, 1, OpusScript.Application.VOIP);
  const decoder = new OpusScript(rate, 1, OpusScript.Application.VOIP);
  return {
    name: "opus",
    payloadType,
    rate,
    clockRate: 48000,
    samplesPerFrame: 960,
    encode: (pcm) => encoder.encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength), pcm.length),
    decode: (payload) => {
      const out = decoder.decode(payload);
      return new Int16Array(out.buffer, out.byteOffset, out.byteLength >> 1).slice();
    },
    close() {
      encoder.delete();
      decoder.delete();
    },
  };
}

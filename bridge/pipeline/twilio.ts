import { randomBytes } from "node:crypto";
import alawmulaw from "alawmulaw";
import type { PipelineHandlers, PipelineOptions, PipelineSession, StreamInfo } from "./session.ts";
import type { PipelineProfile, PipelineProtocol } from "./protocol.ts";
import { PipelineSocket } from "./socket.ts";
import { mediaProbe } from "../probe.ts";

/** PIPELINE_AUDIO: the audio inside the envelope. */
const AUDIO = ["mulaw", "l16-8000", "l16-16000", "l16-24000"] as const;

export const twilioProtocol: PipelineProtocol = {
  name: "twilio",
  summary: "twilio (Twilio Media Streams envelope)",
  settings: {
    PIPELINE_AUDIO: { values: AUDIO, default: "mulaw", hint: "the audio inside the Twilio envelope; mulaw is audio/x-mulaw 8 kHz" },
  },
  profile: ({ PIPELINE_AUDIO: audio }) =>
    audio === "mulaw" ? { protocol: "twilio", encoding: "mulaw", sampleRate: 8000 } : { protocol: "twilio", encoding: "l16", sampleRate: Number(audio.slice(4)) as 8000 | 16000 | 24000 },
  createSession: (profile, opts, handlers) => new TwilioSession(opts, profile, handlers),
};

/**
 * Twilio Media Streams, bidirectional, as Twilio sends it (field order included): connected,
 * start, media…, stop; dtmf and mark back. Accepts media, mark and clear from the pipeline.
 * Optional wideband: raw L16 inside the same envelope (audio/x-l16), as Exotel and Pipecat do.
 */
export class TwilioSession implements PipelineSession {
  readonly sampleRate: number;
  private readonly socket: PipelineSocket;
  private seq = 0;
  private chunk = 0;
  readonly streamSid = `MZ${randomBytes(16).toString("hex")}`;
  private info: StreamInfo | undefined;
  private startedAtMs = 0;
  private firstChunkMs = 0;
  /** μ-law bytes of the caller frame being sent: reused, so the only new thing per frame is the JSON string. */
  private mulawOut = Buffer.alloc(160);
  /** The pipeline's μ-law bytes of one media message, decoded from base64 here (grown as needed). */
  private mulawIn = Buffer.alloc(1024);

  constructor(
    opts: PipelineOptions,
    private readonly audio: PipelineProfile,
    private readonly on: PipelineHandlers,
  ) {
    this.sampleRate = audio.sampleRate;
    this.socket = new PipelineSocket(opts, { onMessage: (data, isBinary) => this.onMessage(data.toString(), isBinary), onDropped: (drop) => on.onDropped(drop) });
  }

  private get encodingName(): string {
    return this.audio.encoding === "mulaw" ? "audio/x-mulaw" : "audio/x-l16";
  }

  async open(info: StreamInfo): Promise<void> {
    await this.socket.open();
    this.info = info;
    this.send(`{"event":"connected","protocol":"Call","version":"1.0.0"}`);
    this.startedAtMs = performance.now();
    this.send(
      JSON.stringify({
        event: "start",
        sequenceNumber: this.nextSeq(),
        start: {
          accountSid: info.accountId,
          streamSid: this.streamSid,
          callSid: info.callSid,
          tracks: ["inbound"],
          mediaFormat: { encoding: this.encodingName, sampleRate: this.audio.sampleRate, channels: 1 },
          customParameters: info.customParameters,
        },
        streamSid: this.streamSid,
      }),
    );
  }

  private nextSeq(): string {
    return String(++this.seq);
  }

  private send(text: string): void {
    this.socket.send(text);
  }

  sendCallerAudio(pcm: Int16Array): boolean {
    const payload = this.audio.encoding === "mulaw" ? this.mulaw(pcm) : Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength).toString("base64");
    const chunk = ++this.chunk;
    // Milliseconds from the start of the stream: where the first chunk fell, then the audio
    // clock (20 ms a chunk), so arrival jitter never makes timestamps wobble.
    if (chunk === 1) this.firstChunkMs = Math.round(performance.now() - this.startedAtMs);
    const timestamp = this.firstChunkMs + (chunk - 1) * 20;
    // A dropped frame still takes its chunk and sequence number: the pipeline sees the gap.
    const sent = this.socket.sendAudio(
      `{"event":"media","sequenceNumber":"${this.nextSeq()}","media":{"track":"inbound","chunk":"${chunk}","timestamp":"${timestamp}","payload":"${payload}"},"streamSid":"${this.streamSid}"}`,
    );
    mediaProbe?.onCallerForwarded(this, pcm);
    return sent;
  }

  /** Base64 μ-law of `pcm`, encoded into the reused buffer. */
  private mulaw(pcm: Int16Array): string {
    if (pcm.length > this.mulawOut.length) this.mulawOut = Buffer.alloc(pcm.length);
    const out = this.mulawOut;
    for (let i = 0; i < pcm.length; i++) out[i] = alawmulaw.mulaw.encodeSample(pcm[i]);
    return out.toString("base64", 0, pcm.length);
  }

  sendMarkPlayed(name: string): void {
    this.send(JSON.stringify({ event: "mark", sequenceNumber: this.nextSeq(), streamSid: this.streamSid, mark: { name } }));
  }

  get rttMs(): number | undefined {
    return this.socket.rttMs;
  }

  sendDtmf(digit: string): void {
    this.send(JSON.stringify({ event: "dtmf", streamSid: this.streamSid, sequenceNumber: this.nextSeq(), dtmf: { track: "inbound_track", digit } }));
  }

  close(reason: string): void {
    // info is set once start went out: only then is there a stream to stop.
    const info = this.info;
    const stop = info && this.socket.isOpen ? JSON.stringify({ event: "stop", sequenceNumber: this.nextSeq(), stop: { accountSid: info.accountId, callSid: info.callSid }, streamSid: this.streamSid }) : undefined;
    this.socket.close(reason, stop);
  }

  private onMessage(text: string, isBinary: boolean): void {
    if (isBinary) return this.on.onBadMessage("binary frame on a Twilio stream (send JSON text)");
    let msg: { event?: unknown; media?: { payload?: unknown }; mark?: { name?: unknown }; dtmf?: { digit?: unknown; digits?: unknown } };
    try {
      msg = JSON.parse(text);
    } catch {
      return this.on.onBadMessage("message is not JSON");
    }
    if (typeof msg !== "object" || msg === null) return this.on.onBadMessage("message is not a JSON object");
    switch (msg.event) {
      case "media": {
        const payload = msg.media?.payload;
        if (typeof payload !== "string") return this.on.onBadMessage("media without a base64 payload");
        // Decoded straight into the samples playout keeps: one new array per message, no intermediate Buffer.
        const n = Buffer.byteLength(payload, "base64");
        if (this.audio.encoding === "mulaw") {
          if (n > this.mulawIn.length) this.mulawIn = Buffer.alloc(Math.max(n, 2 * this.mulawIn.length));
          const got = this.mulawIn.write(payload, "base64");
          const pcm = new Int16Array(got);
          for (let i = 0; i < got; i++) pcm[i] = alawmulaw.mulaw.decodeSample(this.mulawIn[i]);
          return this.on.onAudio(pcm);
        }
        // n is base64's upper bound: a payload with stray characters decodes to fewer bytes.
        const pcm = new Int16Array((n + 1) >> 1);
        const got = Buffer.from(pcm.buffer).write(payload, "base64");
        if (got % 2) return this.on.onBadMessage("L16 payload with an odd number of bytes");
        return this.on.onAudio(got === 2 * pcm.length ? pcm : pcm.subarray(0, got >> 1));
      }
      case "mark": {
        const name = msg.mark?.name;
        if (typeof name !== "string") return this.on.onBadMessage("mark without a name");
        return this.on.onMark(name);
      }
      case "clear":
        return this.on.onClear();
      case "dtmf": {
        // Not in Twilio's stream protocol (Twilio sends digits with TwiML <Play digits>): an extension.
        const digits = msg.dtmf?.digits ?? msg.dtmf?.digit;
        if (typeof digits !== "string" || !/^[0-9A-D*#]{1,32}$/.test(digits)) return this.on.onBadMessage("dtmf needs dtmf.digits: 0-9, A-D, * or #");
        return this.on.onSendDtmf(digits);
      }
      default:
        return this.on.onBadMessage(`unknown event ${JSON.stringify(msg.event)}`);
    }
  }
}

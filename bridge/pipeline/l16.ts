import { randomBytes } from "node:crypto";
import { mediaProbe } from "../probe.ts";
import { PipelineSocket } from "./socket.ts";
import type { PipelineHandlers, PipelineOptions, PipelineSession, StreamInfo } from "./session.ts";
import type { PipelineProtocol, SampleRate } from "./protocol.ts";

export const l16Protocol: PipelineProtocol = {
  name: "l16",
  summary: "l16 (raw PCM frames)",
  settings: {
    PIPELINE_SAMPLE_RATE: { values: ["8000", "16000", "24000", "48000"], default: "16000", hint: "the sample rate of the l16 protocol, in Hz" },
  },
  profile: ({ PIPELINE_SAMPLE_RATE: rate }) => ({ protocol: "l16", encoding: "l16", sampleRate: Number(rate) as SampleRate }),
  createSession: (profile, opts, handlers) => new L16Session(opts, profile.sampleRate, handlers),
};

/**
 * The L16 profile (docs/PROTOCOL.md): one JSON `start`, then binary PCM16 LE 20 ms frames both
 * ways at 8/16/24/48 kHz (the Vonage/jambonz family: no base64, wideband), with JSON control
 * messages `mark`, `clear`, `dtmf`, `hangup` from the pipeline and `mark`, `dtmf`, `stop` to it.
 */
export class L16Session implements PipelineSession {
  private readonly socket: PipelineSocket;
  readonly streamSid = `MZ${randomBytes(16).toString("hex")}`;

  constructor(
    opts: PipelineOptions,
    readonly sampleRate: SampleRate,
    private readonly on: PipelineHandlers,
  ) {
    this.socket = new PipelineSocket(opts, {
      onMessage: (data, isBinary) => (isBinary ? this.onAudio(data) : this.onControl(data.toString())),
      onDropped: (drop) => on.onDropped(drop),
    });
  }

  async open(info: StreamInfo): Promise<void> {
    await this.socket.open();
    this.sendJson({
      event: "start",
      protocol: "l16",
      version: "1",
      streamSid: this.streamSid,
      callSid: info.callSid,
      accountId: info.accountId,
      direction: info.direction,
      from: info.from,
      to: info.to,
      telephonySessionId: info.telephonySessionId ?? null,
      partyId: info.partyId ?? null,
      encoding: "audio/l16",
      sampleRate: this.sampleRate,
      channels: 1,
      frameMs: 20,
      byteOrder: "little-endian",
      customParameters: info.customParameters,
    });
  }

  private sendJson(msg: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(msg));
  }

  sendCallerAudio(pcm: Int16Array): boolean {
    const sent = this.socket.sendAudio(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
    mediaProbe?.onCallerForwarded(this, pcm);
    return sent;
  }

  sendMarkPlayed(name: string): void {
    this.sendJson({ event: "mark", name });
  }

  get rttMs(): number | undefined {
    return this.socket.rttMs;
  }

  sendDtmf(digit: string): void {
    this.sendJson({ event: "dtmf", digit });
  }

  close(reason: string): void {
    // Open means start went out (it is sent as the socket opens): only then is there a stream to stop.
    this.socket.close(reason, this.socket.isOpen ? JSON.stringify({ event: "stop", reason }) : undefined);
  }

  private onAudio(data: Buffer): void {
    if (data.length % 2) return this.on.onBadMessage("binary frame with an odd number of bytes (PCM16 expected)");
    // Copied once, straight into the samples playout keeps: ws may hand out a slice of a pooled
    // buffer at an odd offset, and a view would keep that whole buffer alive while queued.
    const pcm = new Int16Array(data.length >> 1);
    data.copy(new Uint8Array(pcm.buffer));
    this.on.onAudio(pcm);
  }

  private onControl(text: string): void {
    let msg: { event?: unknown; name?: unknown; digits?: unknown };
    try {
      msg = JSON.parse(text);
    } catch {
      return this.on.onBadMessage("text message is not JSON");
    }
    if (typeof msg !== "object" || msg === null) return this.on.onBadMessage("text message is not a JSON object");
    switch (msg.event) {
      case "mark":
        if (typeof msg.name !== "string") return this.on.onBadMessage("mark without a name");
        return this.on.onMark(msg.name);
      case "clear":
        return this.on.onClear();
      case "dtmf":
        if (typeof msg.digits !== "string" || !/^[0-9A-D*#]{1,32}$/.test(msg.digits)) return this.on.onBadMessage("dtmf needs digits: 0-9, A-D, * or #");
        return this.on.onSendDtmf(msg.digits);
      case "hangup":
        return this.on.onHangup();
      default:
        return this.on.onBadMessage(`unknown event ${JSON.stringify(msg.event)}`);
    }
  }
}

/**
 * The page's side of the fast uplink (UPLINK=fast): one worker (./uplink.worker.ts) that every
 * call's audio receiver hands its RTP payloads to through an RTCRtpScriptTransform, wired to the
 * media worker so its frames reach the host on the one media socket.
 */
import type { TapOptions } from "./uplink.worker.ts";

declare class RTCRtpScriptTransform {
  constructor(worker: Worker, options?: unknown, transfer?: Transferable[]);
}

export class UplinkTap {
  private readonly worker: Worker;

  /** `connect` hands the media worker one end of the channel the tap's frames go through. */
  constructor(
    workerUrl: string,
    connect: (port: MessagePort) => void,
    private readonly sampleRate: number,
  ) {
    this.worker = new Worker(workerUrl);
    const channel = new MessageChannel();
    connect(channel.port1);
    this.worker.postMessage({ type: "port", port: channel.port2 }, [channel.port2]);
  }

  static get supported(): boolean {
    return typeof (globalThis as { RTCRtpScriptTransform?: unknown }).RTCRtpScriptTransform === "function";
  }

  /**
   * Taps a call's audio receiver. Chrome lets an RTCRtpScriptTransform be set at any time; frames
   * that arrived before go by untapped (the host takes the worklet's capture until the first fast frame).
   */
  attach(receiver: RTCRtpReceiver, slot: number): void {
    const codecs: Record<number, string> = {};
    for (const c of receiver.getParameters().codecs ?? []) codecs[c.payloadType] = c.mimeType;
    const options: TapOptions = { slot, sampleRate: this.sampleRate, codecs };
    (receiver as RTCRtpReceiver & { transform: RTCRtpScriptTransform | null }).transform = new RTCRtpScriptTransform(this.worker, options);
  }
}

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
  private readonly tapped = new WeakSet<RTCRtpReceiver>();

  /** `connect` hands the media worker one end of the channel the tap's frames go through. */
  constructor(
    workerUrl: string,
    connect: (port: MessagePort) => void,
    private readonly sampleRate: number,
    onError: (why: string) => void,
  ) {
    this.worker = new Worker(workerUrl);
    // A worker that fails to load or throws takes the tap with it: said, not silent.
    this.worker.onerror = (e) => onError(`${e.message} (${e.filename}:${e.lineno})`);
    const channel = new MessageChannel();
    connect(channel.port1);
    this.worker.postMessage({ type: "port", port: channel.port2 }, [channel.port2]);
  }

  static get supported(): boolean {
    return typeof (globalThis as { RTCRtpScriptTransform?: unknown }).RTCRtpScriptTransform === "function";
  }

  /**
   * Taps a call's audio receiver, once (a re-INVITE keeps the tap). It must be set before any
   * RTP arrives (browser/phone.ts says when): Chrome never runs a transform set later.
   */
  attach(receiver: RTCRtpReceiver, slot: number): void {
    if (this.tapped.has(receiver)) return;
    this.tapped.add(receiver);
    const options: TapOptions = { slot, sampleRate: this.sampleRate };
    (receiver as RTCRtpReceiver & { transform: RTCRtpScriptTransform | null }).transform = new RTCRtpScriptTransform(this.worker, options);
  }
}

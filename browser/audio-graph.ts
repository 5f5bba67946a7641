/**
 * The page's one audio graph: an AudioContext at the pipeline's sample rate (so Chrome's own
 * resampler does all rate conversion), one media-hub worklet for every call, and one
 * MediaStreamAudioDestinationNode per slot whose track becomes the call's outgoing audio. With
 * no call the context is suspended, so an idle page runs no audio rendering at all.
 */
import { frameSamples, renderQuantum } from "../bridge/page-frames.ts";

export class AudioGraph {
  private readonly sources = new Map<number, { source: MediaStreamAudioSourceNode; element: HTMLAudioElement }>();
  /** Slots a call holds, from its media setup (before the answer) to its end: the graph runs while any do. */
  private readonly busy = new Set<number>();

  private constructor(
    readonly ctx: AudioContext,
    private readonly hub: AudioWorkletNode,
    private readonly dests: MediaStreamAudioDestinationNode[],
    private readonly worker: Worker,
  ) {}

  static async create(opts: { sampleRate: number; slots: number; workletUrl: string; workerUrl: string; mediaUrl: string }): Promise<AudioGraph> {
    // renderSizeHint is newer than the DOM types here; a browser without it keeps 128.
    const ctx = new AudioContext({ sampleRate: opts.sampleRate, latencyHint: "interactive", renderSizeHint: renderQuantum(opts.sampleRate) } as AudioContextOptions);
    // The media worker (its script and socket) and the worklet module load at the same time.
    const channel = new MessageChannel();
    const worker = new Worker(opts.workerUrl);
    // Ready means frames can flow: wait for the media socket, not just the audio graph.
    const mediaOpen = new Promise<void>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<{ type: string; code?: number }>) => {
        if (e.data.type === "open") resolve();
        if (e.data.type === "closed") reject(new Error(`media link closed (${e.data.code})`));
      };
    });
    worker.postMessage({ type: "init", url: opts.mediaUrl, port: channel.port2 }, [channel.port2]);
    // Resumed once to prove the context renders (it idles, suspended, until the first call).
    await Promise.all([ctx.audioWorklet.addModule(opts.workletUrl), mediaOpen, ctx.resume()]);
    const hub = new AudioWorkletNode(ctx, "media-hub", {
      numberOfInputs: opts.slots,
      numberOfOutputs: opts.slots,
      outputChannelCount: new Array<number>(opts.slots).fill(1),
      channelCount: 1,
      channelCountMode: "explicit",
      channelInterpretation: "speakers",
      processorOptions: { slots: opts.slots, frameSamples: frameSamples(opts.sampleRate), ringSamples: opts.sampleRate * 2 },
    });
    const dests = Array.from({ length: opts.slots }, (_, i) => {
      const dest = new MediaStreamAudioDestinationNode(ctx, { channelCount: 1, channelCountMode: "explicit" });
      hub.connect(dest, i);
      return dest;
    });
    // A node is only processed while something pulls it: a silent path to the speakers does.
    const mute = new GainNode(ctx, { gain: 0 });
    hub.connect(mute, 0).connect(ctx.destination);
    hub.port.postMessage({ type: "port", port: channel.port1 }, [channel.port1]);
    await ctx.suspend();
    return new AudioGraph(ctx, hub, dests, worker);
  }

  /** The fast uplink's frames (browser/uplink-tap.ts) go out on the media worker's socket too. */
  connectUplink(port: MessagePort): void {
    this.worker.postMessage({ type: "uplink", port }, [port]);
  }

  /** The track the call sends: a clone, because the WebPhone stops its tracks when a call ends. */
  agentTrack(slot: number): MediaStreamTrack {
    // A call is setting up media: start rendering now, well before ICE/DTLS let audio flow.
    this.hold(slot);
    return this.dests[slot].stream.getAudioTracks()[0].clone();
  }

  /** Silence as a track: for a consultation call (warm transfer), where the bot has nothing to say. */
  silentTrack(): MediaStreamTrack {
    return new MediaStreamAudioDestinationNode(this.ctx, { channelCount: 1 }).stream.getAudioTracks()[0];
  }

  /** Starts capture and playout for a slot with fresh counters. */
  activate(slot: number): void {
    this.hold(slot);
    this.hub.port.postMessage({ type: "slot", slot, active: true });
  }

  /**
   * Feeds the caller's audio into the slot. Chrome delivers remote WebRTC audio to WebAudio only
   * while the stream also plays in a media element, so a muted one is kept with it.
   */
  attachCaller(slot: number, track: MediaStreamTrack): void {
    this.detachCaller(slot);
    const stream = new MediaStream([track]);
    const element = new Audio();
    element.muted = true;
    element.srcObject = stream;
    void element.play().catch(() => {});
    const source = this.ctx.createMediaStreamSource(stream);
    source.connect(this.hub, 0, slot);
    this.sources.set(slot, { source, element });
  }

  release(slot: number): void {
    this.hub.port.postMessage({ type: "slot", slot, active: false });
    this.detachCaller(slot);
    // The last call ended: stop rendering (the worklet keeps its state; the next call resumes it).
    if (this.busy.delete(slot) && this.busy.size === 0) void this.ctx.suspend().catch(() => {});
  }

  private hold(slot: number): void {
    if (this.busy.has(slot)) return;
    this.busy.add(slot);
    if (this.busy.size === 1) void this.ctx.resume().catch(() => {});
  }

  private detachCaller(slot: number): void {
    const s = this.sources.get(slot);
    if (!s) return;
    s.source.disconnect();
    s.element.srcObject = null;
    this.sources.delete(slot);
  }
}

import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  RtpPacket,
  type RTCRtpTransceiver,
} from "werift";
import { randomInt } from "node:crypto";
import { opusCodec, pcmuCodec, type AudioCodec } from "./codec.ts";
import { createSource, preloadSpec } from "./source.ts";
import { CallerVoice, DEFAULT_DTMF_TIMING, Rfc4733Events, newDigits, type DtmfMode, type DtmfTiming, type SentDigit } from "./dtmf.ts";
import { HeardDtmf } from "./dtmf-heard.ts";
import { Recorder } from "./recorder.ts";
import { pacer } from "./pacer.ts";

export type CallerCodec = "opus" | "PCMU";

const FRAME_MS = 20;

const iceUfrag = (sdp: string | undefined): string | undefined => sdp?.match(/^a=ice-ufrag:(\S+)/m)?.[1];

/** What the caller's RTP is doing: faults can stall it for a while or kill it for good. */
export type MediaState = "flowing" | "stalled" | "killed";

/** A lossy, jittery link for the caller's RTP: each packet lost with `lossRate`, else delayed by a uniform draw from `delayMs`. */
export interface LinkImpairment {
  lossRate: number;
  delayMs: { min: number; max: number };
}

const CODEC_PARAMS: Record<CallerCodec, () => RTCRtpCodecParameters> = {
  opus: () => new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2, payloadType: 111 }),
  PCMU: () => new RTCRtpCodecParameters({ mimeType: "audio/PCMU", clockRate: 8000, channels: 1, payloadType: 0 }),
};
const TELEPHONE_EVENT = () =>
  new RTCRtpCodecParameters({ mimeType: "audio/telephone-event", clockRate: 8000, channels: 1, payloadType: 101, parameters: "0-15" });

/**
 * The far end of a call: a real WebRTC endpoint (werift: ICE, DTLS-SRTP, RTP) on loopback only.
 * It plays a source, records what it hears, and is told when to stop.
 */
export class CallerPeer {
  readonly pc: RTCPeerConnection;
  private transceiver: RTCRtpTransceiver;
  private codec: AudioCodec | undefined;
  private voice: CallerVoice | undefined;
  private events: Rfc4733Events | undefined;
  /** The negotiated telephone-event payload type (8000 Hz clock), if any. */
  private eventPayloadType: number | undefined;
  private readonly receivedEventTypes = new Set<number>();
  /** Keys the far end pressed (RFC 4733 packets received). */
  readonly heardDtmf = new HeardDtmf();
  private frame: Float32Array | undefined;
  private pcm: Int16Array | undefined;
  private seq = randomInt(0, 0xffff);
  private ts = randomInt(0, 0x7fffffff);
  private readonly ssrc = randomInt(1, 0x7fffffff);
  private decoders = new Map<number, AudioCodec>();
  recorder: Recorder | undefined;
  framesSent = 0;
  /** telephone-event packets sent (each final packet counts three times). */
  eventPacketsSent = 0;
  /** Wall-clock ms when ICE+DTLS came up: audio flows from here. */
  connectedAtMs: number | undefined;
  private stopPacing: (() => void) | undefined;
  /** Epoch ms until which RTP is withheld (Infinity: until resumed). */
  private stalledUntilMs = 0;
  private killed = false;
  /** RTP packets withheld by a stall or kill. */
  packetsWithheld = 0;
  private link: LinkImpairment = { lossRate: 0, delayMs: { min: 0, max: 0 } };
  /** RTP packets the impaired link lost (withheld ones not counted). */
  packetsLost = 0;
  /** RTP packets the impaired link delayed. */
  packetsDelayed = 0;
  /** RTP packets that went out after a later one (the delays reordered them). */
  packetsReordered = 0;
  /** Sequence number of the latest packet sent, in sequence order. */
  private newestSentSeq: number | undefined;

  constructor(private readonly playSpec: string, codecs: CallerCodec[] = ["opus", "PCMU"]) {
    // Decode any WAV now, for every rate the call may end up at, not once it is sending.
    preloadSpec(playSpec, codecs.map((c) => (c === "opus" ? 48000 : 8000)));
    this.pc = new RTCPeerConnection({
      codecs: { audio: [...codecs.map((c) => CODEC_PARAMS[c]()), TELEPHONE_EVENT()] },
      // Loopback only: the twin never sends media anywhere else. werift leaves loopback out of
      // the interfaces it lists, so an interface filter of 127.0.0.1 matches none of them and
      // it falls back to all (eth0's address went into the SDP, on a socket bound to loopback).
      // Listing no interface at all leaves only the one added here.
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: ["127.0.0.1"],
      iceInterfaceAddresses: { udp4: "127.0.0.1" },
      // ICE lite, like RingCentral's media servers: no STUN gathering, which in werift would
      // otherwise query a public STUN server even with iceServers empty.
      iceLite: true,
      iceServers: [],
    });
    this.transceiver = this.pc.addTransceiver("audio", { direction: "sendrecv" });
    this.transceiver.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => this.onRtp(rtp));
    });
    this.pc.connectionStateChange.subscribe((state) => {
      if (state === "connected" && this.connectedAtMs === undefined) {
        this.connectedAtMs = Date.now();
        this.startSending();
      }
    });
  }

  /** A complete offer (all candidates inline, no trickle), as RingCentral sends. */
  async createOffer(): Promise<string> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await this.gathered();
    return this.pc.localDescription!.sdp;
  }

  async acceptAnswer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: "answer", sdp });
    this.chooseCodec();
  }

  /** For calls the page places: the caller answers the page's offer. */
  async answerOffer(sdp: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    await this.gathered();
    this.chooseCodec();
    return this.pc.localDescription!.sdp;
  }

  /** A re-offer with new ICE credentials: the page restarts ICE (the WebPhone's `reInvite()`). */
  isIceRestart(offer: string): boolean {
    const theirs = iceUfrag(offer);
    return theirs !== undefined && theirs !== iceUfrag(this.pc.remoteDescription?.sdp);
  }

  /**
   * Answers a re-offer on the live connection. werift keeps the DTLS role and SRTP keys; on an
   * ICE restart it makes new credentials and candidates but, with DTLS already up, never starts
   * ICE again, so the page's checks would sit unhandled and no pair would be nominated (no RTP
   * out). Starting the restarted transports here lets the new pair be chosen and media go on.
   */
  async renegotiate(offer: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: "offer", sdp: offer });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    await this.gathered();
    for (const t of this.pc.iceTransports) {
      if (!t.connection.nominated) void t.start().catch(() => {});
    }
    return this.pc.localDescription!.sdp;
  }

  /** Withhold RTP for `forMs` (default: until `resume()`), as a network blackout does. */
  stall(forMs?: number): void {
    this.stalledUntilMs = forMs === undefined ? Infinity : Date.now() + forMs;
  }

  resume(): void {
    this.stalledUntilMs = 0;
  }

  /** From now on the caller's RTP goes over this link (a clean link: lossRate 0, delay 0). */
  impair(link: LinkImpairment): void {
    this.link = link;
  }

  linkJSON(): LinkImpairment & { packetsLost: number; packetsDelayed: number; packetsReordered: number } {
    return { ...this.link, packetsLost: this.packetsLost, packetsDelayed: this.packetsDelayed, packetsReordered: this.packetsReordered };
  }

  /** Never send RTP again, and send no BYE: the media source died. */
  kill(): void {
    this.killed = true;
  }

  get mediaState(): MediaState {
    return this.killed ? "killed" : Date.now() < this.stalledUntilMs ? "stalled" : "flowing";
  }

  mediaJSON(): { state: MediaState; stalledUntilMs: number | null; packetsWithheld: number } {
    const until = this.mediaState === "stalled" && Number.isFinite(this.stalledUntilMs) ? this.stalledUntilMs : null;
    return { state: this.mediaState, stalledUntilMs: until, packetsWithheld: this.packetsWithheld };
  }

  get negotiatedCodec(): string | undefined {
    return this.codec?.name;
  }

  /** Switch what the caller says mid-call. */
  play(spec: string): void {
    if (!this.codec || !this.voice) return;
    this.voice.source = createSource(spec, this.codec.rate);
  }

  /** Whether RFC 4733 digits can be sent: the answer kept a telephone-event payload type. */
  get canSendEvents(): boolean {
    return this.eventPayloadType !== undefined;
  }

  /**
   * Queue DTMF digits ("0-9*#A-D"): in-band dual tones mixed into the caller's audio, or RFC 4733
   * telephone-event packets. Returns the digits' records, filled in as they go out.
   */
  sendDtmf(digits: string, mode: DtmfMode, timing: DtmfTiming = DEFAULT_DTMF_TIMING): SentDigit[] {
    if (!this.voice || !this.events) throw new Error("the call has no media yet");
    if (mode === "rfc4733") {
      if (!this.canSendEvents) throw new Error("telephone-event was not negotiated");
      const records = newDigits(digits, mode, this.events.roundedToneMs(timing.toneMs));
      this.events.enqueue(records, timing);
      return records;
    }
    const records = newDigits(digits, mode, timing.toneMs);
    this.voice.dtmf.enqueue(records, timing);
    return records;
  }

  async close(): Promise<void> {
    this.stopPacing?.();
    this.stopPacing = undefined;
    await this.pc.close().catch(() => {});
    this.codec?.close();
    for (const d of this.decoders.values()) d.close();
  }

  private async gathered(): Promise<void> {
    if (this.pc.iceGatheringState === "complete") return;
    await new Promise<void>((resolve) => {
      const { unSubscribe } = this.pc.iceGatheringStateChange.subscribe((s) => {
        if (s === "complete") {
          unSubscribe();
          resolve();
        }
      });
    });
  }

  private chooseCodec(): void {
    const negotiated = this.transceiver.codecs.find((c) => !/telephone-event/i.test(c.mimeType));
    if (!negotiated) throw new Error("no audio codec negotiated");
    this.codec = /opus/i.test(negotiated.mimeType) ? opusCodec(negotiated.payloadType) : pcmuCodec(negotiated.payloadType);
    this.recorder = new Recorder(this.codec.rate, this.codec.clockRate);
    this.voice = new CallerVoice(createSource(this.playSpec, this.codec.rate), this.codec.rate);
    const te = this.transceiver.codecs.find((c) => /telephone-event/i.test(c.mimeType) && c.clockRate === 8000);
    this.eventPayloadType = te?.payloadType;
    // The far end sends its keys with the payload types of either offer: all telephone-event ones.
    for (const c of this.transceiver.codecs) if (/telephone-event/i.test(c.mimeType)) this.receivedEventTypes.add(c.payloadType);
    this.events = new Rfc4733Events(8000, FRAME_MS);
    // ICE+DTLS may come up before the codec is known (the page's offer, our answer still gathering).
    if (this.connectedAtMs !== undefined) this.startSending();
    this.frame = new Float32Array(this.codec.samplesPerFrame);
    this.pcm = new Int16Array(this.codec.samplesPerFrame);
  }

  private decoderFor(payloadType: number): AudioCodec | undefined {
    if (this.codec && payloadType === this.codec.payloadType) {
      let d = this.decoders.get(payloadType);
      if (!d) this.decoders.set(payloadType, (d = this.codec.name === "opus" ? opusCodec(payloadType) : pcmuCodec(payloadType)));
      return d;
    }
    return undefined;
  }

  private onRtp(rtp: RtpPacket): void {
    if (this.receivedEventTypes.has(rtp.header.payloadType)) return this.heardDtmf.push(rtp.header.timestamp, rtp.payload);
    const decoder = this.decoderFor(rtp.header.payloadType);
    if (!decoder || !this.recorder) return;
    this.recorder.push(rtp.header.sequenceNumber, rtp.header.timestamp, decoder.decode(rtp.payload));
  }

  private startSending(): void {
    if (this.stopPacing || !this.codec) return;
    this.stopPacing = pacer.add((dueAtMs) => this.sendFrame(dueAtMs));
  }

  /** `now`: when this frame is due (epoch ms), which is what DTMF timestamps record. */
  private sendFrame(now: number): void {
    const codec = this.codec!;
    const frame = this.frame!;
    const pcm = this.pcm!;
    // The voice always advances, so what the caller says keeps its timing across RFC 4733 events.
    this.voice!.read(frame, now);
    const events = this.eventPayloadType === undefined ? undefined : this.events!.tick(this.ts, now);
    if (events) {
      for (const ev of events) this.sendPacket(this.eventPayloadType!, ev.timestamp, ev.marker, ev.payload);
      this.eventPacketsSent += events.length;
    } else {
      for (let i = 0; i < frame.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(frame[i] * 32767)));
      this.sendPacket(codec.payloadType, this.ts, this.framesSent === 0, codec.encode(pcm));
      this.framesSent++;
    }
    this.ts = (this.ts + (codec.clockRate * FRAME_MS) / 1000) >>> 0;
  }

  private sendPacket(payloadType: number, timestamp: number, marker: boolean, payload: Buffer): void {
    const sequenceNumber = this.seq;
    this.seq = (this.seq + 1) & 0xffff;
    // A stall loses packets on the way: sequence numbers and timestamps still advance, so the
    // page sees a gap, as after a real outage, not a paused sender.
    if (this.mediaState !== "flowing") return void this.packetsWithheld++;
    const header = new RtpHeader({ payloadType, sequenceNumber, timestamp: timestamp >>> 0, ssrc: this.ssrc, marker });
    // werift's sender stamps every packet with its one send codec's payload type; telephone-event
    // packets share the stream (RFC 4733) but must keep theirs, so the header's is pinned.
    if (payloadType !== this.codec?.payloadType) Object.defineProperty(header, "payloadType", { get: () => payloadType, set: () => {}, enumerable: true });
    const packet = new RtpPacket(header, payload);
    const { lossRate, delayMs } = this.link;
    if (lossRate > 0 && Math.random() < lossRate) return void this.packetsLost++;
    const delay = delayMs.max > 0 ? delayMs.min + Math.random() * (delayMs.max - delayMs.min) : 0;
    const send = () => {
      const ahead = this.newestSentSeq === undefined ? 1 : (sequenceNumber - this.newestSentSeq) & 0xffff;
      if (ahead >= 0x8000) this.packetsReordered++;
      else this.newestSentSeq = sequenceNumber;
      void this.transceiver.sender.sendRtp(packet).catch(() => {});
    };
    if (delay <= 0) return send();
    // Each packet on its own timer: a spread over 20 ms reorders them, as a real network does.
    this.packetsDelayed++;
    setTimeout(send, delay);
  }
}

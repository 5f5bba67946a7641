/**
 * WebPhone glue: reports what happens to calls and carries out the host's commands.
 * It decides nothing (the host answers, declines and places calls) and holds no secret but sipInfo.
 */
import WebPhone from "ringcentral-web-phone";
import type CallSession from "ringcentral-web-phone/call-session/index";
import type InboundCallSession from "ringcentral-web-phone/call-session/inbound";
import type OutboundCallSession from "ringcentral-web-phone/call-session/outbound";
import type { Command, PageEvent, PreferredCodec } from "../bridge/page-protocol.ts";
import type { AudioGraph } from "./audio-graph.ts";

type Emit = (event: PageEvent) => void;

const numberOf = (addr: string | undefined): string => addr?.match(/<sip:([^@>]+)@/)?.[1] ?? "";
const nameOf = (addr: string | undefined): string | undefined => addr?.match(/^"([^"]*)"/)?.[1];

/** Puts the preferred codec first, so an 8 kHz μ-law pipeline gets PCMU end to end and no Opus at all. */
function preferCodec(pc: RTCPeerConnection, codec: PreferredCodec): void {
  const caps = RTCRtpReceiver.getCapabilities("audio")?.codecs ?? [];
  const mime = codec === "PCMU" ? "audio/pcmu" : "audio/opus";
  const sorted = [...caps.filter((c) => c.mimeType.toLowerCase() === mime), ...caps.filter((c) => c.mimeType.toLowerCase() !== mime)];
  for (const t of pc.getTransceivers()) {
    try {
      t.setCodecPreferences(sorted);
    } catch {
      // A transceiver that is stopped or has no audio: nothing to prefer.
    }
  }
}

export class Phone {
  private webPhone: WebPhone | undefined;
  private readonly sessions = new Map<string, CallSession>();
  private readonly slots = new Map<string, number>();
  private readonly hungUpHere = new Set<string>();

  constructor(
    private readonly emit: Emit,
    private readonly graph: () => AudioGraph,
    private readonly codec: () => PreferredCodec,
  ) {}

  async register(cmd: Extract<Command, { type: "register" }>): Promise<void> {
    // autoAnswer off: even RingCentral's auto-answer INVITEs go to the host, which answers them.
    this.webPhone = new WebPhone({ sipInfo: cmd.sipInfo, instanceId: cmd.instanceId, autoAnswer: false, debug: false });
    this.webPhone.on("inboundCall", (cs: InboundCallSession) => this.onInbound(cs));
    try {
      await this.webPhone.start();
      this.emit({ type: "registered" });
    } catch (err) {
      this.emit({ type: "registrationFailed", error: err instanceof Error ? err.message : String(err) });
    }
  }

  async unregister(): Promise<void> {
    const wp = this.webPhone;
    this.webPhone = undefined;
    await wp?.dispose();
  }

  private track(cs: CallSession): void {
    this.sessions.set(cs.callId, cs);
    cs.once("disposed", () => {
      const slot = this.slots.get(cs.callId);
      if (slot !== undefined) this.graph().release(slot);
      this.slots.delete(cs.callId);
      this.sessions.delete(cs.callId);
      const by = cs.state === "failed" ? "failed" : this.hungUpHere.delete(cs.callId) ? "local" : "remote";
      this.emit({ type: "ended", callId: cs.callId, by });
    });
  }

  private onInbound(cs: InboundCallSession): void {
    this.track(cs);
    const headers = cs.sipMessage.headers;
    const alert = Object.entries(headers).find(([k]) => k.toLowerCase() === "alert-info")?.[1];
    this.emit({
      type: "incoming",
      callId: cs.callId,
      telephonySessionId: cs.sessionId,
      partyId: cs.partyId,
      from: cs.remoteNumber || numberOf(cs.remotePeer),
      fromName: nameOf(cs.remotePeer) ?? cs.rcApiCallInfo?.callerIdName,
      to: cs.localNumber || numberOf(cs.localPeer),
      autoAnswer: alert === "Auto Answer",
    });
  }

  /** Before the WebPhone negotiates: our track instead of the microphone, our codec first. */
  private prepareMedia(cs: CallSession, slot: number): void {
    this.slots.set(cs.callId, slot);
    cs.once("mediaStreamSet", (stream: MediaStream) => {
      for (const t of stream.getAudioTracks()) {
        stream.removeTrack(t);
        t.stop();
      }
      stream.addTrack(this.graph().agentTrack(slot));
      const pc = cs.rtcPeerConnection;
      const codec = this.codec();
      for (const method of ["createAnswer", "createOffer"] as const) {
        const original = pc[method].bind(pc) as (o?: RTCOfferOptions) => Promise<RTCSessionDescriptionInit>;
        pc[method] = ((options?: RTCOfferOptions) => {
          preferCodec(pc, codec);
          return original(options);
        }) as never;
      }
    });
  }

  /** Once answered: feed the caller into the slot; report when ICE/DTLS are up (audio sent earlier is lost). */
  private startMedia(cs: CallSession, slot: number): void {
    const pc = cs.rtcPeerConnection;
    // The SDK's own element would play the caller to a speaker nobody hears.
    if (cs.audioElement) cs.audioElement.muted = true;
    const receiver = pc.getReceivers().find((r) => r.track.kind === "audio");
    if (receiver) this.graph().attachCaller(slot, receiver.track);
    this.graph().activate(slot);
    const connected = () => {
      if (pc.connectionState !== "connected") return false;
      this.emit({ type: "mediaConnected", callId: cs.callId, slot });
      return true;
    };
    if (!connected()) {
      const onChange = () => {
        if (connected() || pc.connectionState === "closed" || pc.connectionState === "failed") pc.removeEventListener("connectionstatechange", onChange);
      };
      pc.addEventListener("connectionstatechange", onChange);
    }
  }

  private async negotiatedCodec(cs: CallSession): Promise<string | undefined> {
    const stats = await cs.rtcPeerConnection.getStats();
    let codec: string | undefined;
    stats.forEach((s: { type: string; mimeType?: string }) => {
      if (s.type === "codec" && s.mimeType && !/telephone-event/i.test(s.mimeType)) codec ??= s.mimeType.replace(/^audio\//, "");
    });
    return codec;
  }

  async run(cmd: Command): Promise<void> {
    switch (cmd.type) {
      case "answer": {
        const cs = this.session(cmd.callId) as InboundCallSession;
        this.prepareMedia(cs, cmd.slot);
        await cs.answer();
        this.startMedia(cs, cmd.slot);
        this.emit({ type: "answered", callId: cs.callId, codec: await this.negotiatedCodec(cs) });
        return;
      }
      case "call": {
        if (!this.webPhone) throw new Error("not registered");
        const wp = this.webPhone;
        const onOutbound = (cs: OutboundCallSession) => {
          this.track(cs);
          this.prepareMedia(cs, cmd.slot);
          cs.once("answered", () => {
            this.startMedia(cs, cmd.slot);
            void this.negotiatedCodec(cs).then((codec) => this.emit({ type: "answered", callId: cs.callId, codec }));
          });
        };
        wp.once("outboundCall", onOutbound);
        const cs = await wp.call(cmd.to, cmd.from);
        this.emit({ type: "outgoing", requestId: cmd.requestId, callId: cs.callId, telephonySessionId: cs.sessionId, partyId: cs.partyId, to: cmd.to });
        return;
      }
      case "decline":
        await (this.session(cmd.callId) as InboundCallSession).decline();
        return;
      case "hangup": {
        const cs = this.session(cmd.callId);
        this.hungUpHere.add(cs.callId);
        if (cs.state === "answered") await cs.hangup();
        else if (cs.direction === "inbound") await (cs as InboundCallSession).decline();
        else await (cs as OutboundCallSession).cancel();
        return;
      }
      case "dtmf":
        this.session(cmd.callId).sendDtmf(cmd.digits);
        return;
      case "hold":
        await this.session(cmd.callId).hold();
        return;
      case "unhold":
        await this.session(cmd.callId).unhold();
        return;
      case "mute":
        this.session(cmd.callId).mute();
        return;
      case "unmute":
        this.session(cmd.callId).unmute();
        return;
      case "transfer":
        await this.session(cmd.callId).transfer(cmd.target);
        return;
      case "recording": {
        const cs = this.session(cmd.callId);
        const result = cmd.action === "start" ? await cs.startRecording() : await cs.stopRecording();
        if (result.code !== 0) throw new Error(`recording ${cmd.action} refused: ${result.description}`);
        return;
      }
      case "unregister":
        await this.unregister();
        return;
      default:
        throw new Error(`unknown command ${(cmd as { type: string }).type}`);
    }
  }

  private session(callId: string): CallSession {
    const cs = this.sessions.get(callId);
    if (!cs) throw new Error(`no call session ${callId}`);
    return cs;
  }
}

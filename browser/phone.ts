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
import { QUALITY_EVERY_MS, qualityOf } from "./quality.ts";
import { SipWatch } from "./sip-watch.ts";
import type { UplinkTap } from "./uplink-tap.ts";

type Emit = (event: PageEvent) => void;

const numberOf = (addr: string | undefined): string => addr?.match(/<sip:([^@>]+)@/)?.[1] ?? "";
const nameOf = (addr: string | undefined): string | undefined => addr?.match(/^"([^"]*)"/)?.[1];

/**
 * For an 8 kHz μ-law pipeline, negotiates PCMU alone (plus telephone-event), so Chrome neither
 * encodes nor decodes Opus for the call: listing PCMU first is not enough, Chrome keeps sending
 * the offerer's first codec. Only when the far end offers PCMU; otherwise the default order stays.
 */
function preferCodec(pc: RTCPeerConnection, codec: PreferredCodec): void {
  if (codec !== "PCMU") return;
  const remote = pc.remoteDescription?.sdp;
  if (remote && !/a=rtpmap:\d+ PCMU\/8000/i.test(remote)) return;
  const caps = RTCRtpReceiver.getCapabilities("audio")?.codecs ?? [];
  const keep = caps.filter((c) => /^audio\/(pcmu|telephone-event)$/i.test(c.mimeType) && c.clockRate === 8000);
  if (!keep.some((c) => /pcmu/i.test(c.mimeType))) return;
  for (const t of pc.getTransceivers()) {
    try {
      t.setCodecPreferences(keep);
    } catch {
      // A stopped transceiver: nothing to negotiate.
    }
  }
}

/**
 * Chrome sends with the first codec of the remote offer whatever the answer lists, so the send
 * codec is also pinned on the sender (RTCRtpEncodingParameters.codec).
 */
async function pinSendCodec(pc: RTCPeerConnection, codec: PreferredCodec): Promise<void> {
  if (codec !== "PCMU") return;
  const sender = pc.getSenders().find((s) => s.track?.kind === "audio");
  if (!sender) return;
  const params = sender.getParameters() as RTCRtpSendParameters & { encodings: Array<RTCRtpEncodingParameters & { codec?: RTCRtpCodec }> };
  const pcmu = params.codecs.find((c) => /pcmu/i.test(c.mimeType));
  if (!pcmu || !params.encodings.length) return;
  params.encodings[0].codec = { mimeType: pcmu.mimeType, clockRate: pcmu.clockRate, channels: pcmu.channels };
  await sender.setParameters(params);
}

export class Phone {
  private webPhone: WebPhone | undefined;
  private sip: SipWatch | undefined;
  private readonly sessions = new Map<string, CallSession>();
  private readonly slots = new Map<string, number>();
  private readonly hungUpHere = new Set<string>();
  /** Calls the page ended itself (their SIP connection is gone): the reason goes with `ended`. */
  private readonly dropped = new Map<string, string>();
  /** Runs only while calls exist. */
  private qualityTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly emit: Emit,
    private readonly graph: () => AudioGraph,
    private readonly codec: () => PreferredCodec,
    private readonly uplink: () => UplinkTap | undefined = () => undefined,
  ) {}

  async register(cmd: Extract<Command, { type: "register" }>): Promise<void> {
    // autoAnswer off: even RingCentral's auto-answer INVITEs go to the host, which answers them.
    this.webPhone = new WebPhone({ sipInfo: cmd.sipInfo, instanceId: cmd.instanceId, autoAnswer: false, debug: false });
    this.webPhone.on("inboundCall", (cs: InboundCallSession) => this.onInbound(cs));
    this.sip = new SipWatch(this.webPhone, this.emit, (cs, reason) => this.drop(cs, reason));
    try {
      await this.sip.start();
      this.emit({ type: "registered" });
    } catch (err) {
      this.emit({ type: "registrationFailed", error: err instanceof Error ? err.message : String(err) });
    }
  }

  async unregister(): Promise<void> {
    const wp = this.webPhone;
    this.webPhone = undefined;
    this.sip?.dispose();
    if (wp) this.leaveRinging(wp);
    await wp?.dispose();
  }

  /**
   * The WebPhone's dispose() declines every inbound call it has not answered (MESSAGE Cmd 12), and
   * a decline from one instance ends the call for every instance it rings: a draining or stopping
   * host would end the calls the other hosts are about to take. So the calls this page never
   * answered are taken off its list first and closed here without a word; the un-REGISTER (and
   * the socket's close) takes this instance out of their ringing.
   */
  private leaveRinging(wp: WebPhone): void {
    for (const cs of [...wp.callSessions]) {
      if (cs.direction !== "inbound" || cs.state === "answered") continue;
      wp.callSessions.splice(wp.callSessions.indexOf(cs), 1);
      this.dropped.set(cs.callId, "unregistered");
      cs.dispose();
    }
  }

  /** Ends a call here without SIP (none can be sent): media closed, `ended` with the reason. */
  private drop(cs: CallSession, reason: string): void {
    const list = this.webPhone?.callSessions;
    const i = list?.indexOf(cs) ?? -1;
    if (i !== -1) list!.splice(i, 1);
    if (!this.hungUpHere.has(cs.callId)) this.dropped.set(cs.callId, reason);
    cs.dispose();
  }

  /** Every QUALITY_EVERY_MS, a `quality` event per answered call; stops once no call is left. */
  private sampleQuality(): void {
    if (this.sessions.size === 0) {
      clearInterval(this.qualityTimer);
      this.qualityTimer = undefined;
      return;
    }
    for (const [id, cs] of this.sessions) {
      const pc = cs.rtcPeerConnection;
      if (cs.state !== "answered" || !pc || pc.connectionState === "closed") continue;
      void pc.getStats().then(
        (report) => {
          const q = qualityOf(id, report);
          if (q && this.sessions.has(id)) this.emit(q);
        },
        () => {},
      );
    }
  }

  private track(cs: CallSession): void {
    this.sessions.set(cs.callId, cs);
    this.qualityTimer ??= setInterval(() => this.sampleQuality(), QUALITY_EVERY_MS);
    cs.once("disposed", () => {
      const slot = this.slots.get(cs.callId);
      if (slot !== undefined) this.graph().release(slot);
      this.slots.delete(cs.callId);
      this.sessions.delete(cs.callId);
      const reason = this.dropped.get(cs.callId);
      this.dropped.delete(cs.callId);
      const by = reason || cs.state === "failed" ? "failed" : this.hungUpHere.delete(cs.callId) ? "local" : "remote";
      this.hungUpHere.delete(cs.callId);
      this.emit({ type: "ended", sipCallId: cs.callId, by, ...(reason && { reason }) });
    });
  }

  private onInbound(cs: InboundCallSession): void {
    this.track(cs);
    const headers = cs.sipMessage.headers;
    const alert = Object.entries(headers).find(([k]) => k.toLowerCase() === "alert-info")?.[1];
    this.emit({
      type: "incoming",
      sipCallId: cs.callId,
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
      if (this.uplink()) this.tapBeforeRemoteSdp(cs, pc, slot);
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
    void pinSendCodec(pc, this.codec()).catch((err) => this.emit({ type: "log", level: "warn", msg: `could not pin the send codec: ${String(err)}`, sipCallId: cs.callId }));
    // The SDK's own element would play the caller to a speaker nobody hears.
    if (cs.audioElement) cs.audioElement.muted = true;
    const receiver = pc.getReceivers().find((r) => r.track.kind === "audio");
    if (receiver) this.graph().attachCaller(slot, receiver.track);
    this.graph().activate(slot);
    const connected = () => {
      if (pc.connectionState !== "connected") return false;
      this.emit({ type: "mediaConnected", sipCallId: cs.callId, slot });
      return true;
    };
    if (!connected()) {
      const onChange = () => {
        if (connected() || pc.connectionState === "closed" || pc.connectionState === "failed") pc.removeEventListener("connectionstatechange", onChange);
      };
      pc.addEventListener("connectionstatechange", onChange);
    }
  }

  /**
   * UPLINK=fast: the tap goes on the call's audio receiver just before the far end's SDP is
   * applied (the WebPhone's addTrack made the receiver, no RTP has come). Chrome 156 runs no
   * transform set later: not after packets came, and not from the `track` event of a receiver
   * that addTrack made (frames never reach the worker). Chrome's own path stays as it was.
   */
  private tapBeforeRemoteSdp(cs: CallSession, pc: RTCPeerConnection, slot: number): void {
    const original = pc.setRemoteDescription.bind(pc);
    pc.setRemoteDescription = ((description: RTCSessionDescriptionInit) => {
      for (const t of pc.getTransceivers()) if (t.receiver.track.kind === "audio") this.tapUplink(cs, t.receiver, slot);
      return original(description);
    }) as never;
    // A receiver the far end's SDP made (no local track paired with it): its `track` event is early enough.
    pc.addEventListener("track", (e) => {
      if (e.track.kind === "audio") this.tapUplink(cs, e.receiver, slot);
    });
  }

  private tapUplink(cs: CallSession, receiver: RTCRtpReceiver, slot: number): void {
    try {
      this.uplink()?.attach(receiver, slot);
    } catch (err) {
      this.emit({ type: "log", level: "warn", msg: `fast uplink not attached, the caller's audio takes the buffered path: ${String(err)}`, sipCallId: cs.callId });
    }
  }

  /** The codec the call sends with, from WebRTC stats (what is really on the wire). */
  private async negotiatedCodec(cs: CallSession): Promise<string | undefined> {
    const stats = await cs.rtcPeerConnection.getStats();
    const byId = new Map<string, { mimeType?: string }>();
    let codecId: string | undefined;
    stats.forEach((s: { type: string; id: string; mimeType?: string; codecId?: string }) => {
      if (s.type === "codec") byId.set(s.id, s);
      if (s.type === "outbound-rtp") codecId = s.codecId;
    });
    return codecId ? byId.get(codecId)?.mimeType?.replace(/^audio\//, "") : undefined;
  }

  async run(cmd: Command): Promise<void> {
    switch (cmd.type) {
      case "answer": {
        const cs = this.session(cmd.sipCallId) as InboundCallSession;
        this.prepareMedia(cs, cmd.slot);
        await cs.answer();
        this.startMedia(cs, cmd.slot);
        this.emit({ type: "answered", sipCallId: cs.callId, codec: await this.negotiatedCodec(cs), telephonySessionId: cs.sessionId, partyId: cs.partyId });
        return;
      }
      case "call": {
        if (!this.webPhone) throw new Error("not registered");
        const wp = this.webPhone;
        const onOutbound = (cs: OutboundCallSession) => {
          this.track(cs);
          this.prepareMedia(cs, cmd.slot);
          // Before anything else about this call, so the host knows its Call-ID.
          this.emit({ type: "outgoing", requestId: cmd.requestId, sipCallId: cs.callId, to: cmd.to });
          cs.once("answered", () => {
            this.startMedia(cs, cmd.slot);
            void this.negotiatedCodec(cs).then((codec) =>
              this.emit({ type: "answered", sipCallId: cs.callId, codec, telephonySessionId: cs.sessionId, partyId: cs.partyId }),
            );
          });
        };
        wp.once("outboundCall", onOutbound);
        const cs = await wp.call(cmd.to, cmd.from);
        if (cs.state === "failed") throw new Error("the call failed (busy or rejected)");
        return;
      }
      case "decline":
        await (this.session(cmd.sipCallId) as InboundCallSession).decline();
        return;
      case "hangup": {
        const cs = this.session(cmd.sipCallId);
        this.hungUpHere.add(cs.callId);
        // With no SIP connection a BYE would wait for ever: the call ends here, and the far end
        // learns of it when RingCentral gives up on this device.
        if (!this.sip?.connected) return this.drop(cs, "host-hangup");
        const signalled = cs.state === "answered" ? cs.hangup() : cs.direction === "inbound" ? (cs as InboundCallSession).decline() : (cs as OutboundCallSession).cancel();
        await signalled;
        return;
      }
      case "dtmf":
        this.session(cmd.sipCallId).sendDtmf(cmd.digits);
        return;
      case "hold":
        await this.session(cmd.sipCallId).hold();
        return;
      case "unhold":
        await this.session(cmd.sipCallId).unhold();
        return;
      case "mute":
        this.session(cmd.sipCallId).mute();
        return;
      case "unmute":
        this.session(cmd.sipCallId).unmute();
        return;
      case "transfer": {
        const cs = this.session(cmd.sipCallId);
        if (cmd.mode === "blind") return void (await cs.transfer(cmd.target));
        // Warm: the caller is held while the target is called; once the target answers, RingCentral
        // joins them (REFER with Replaces). The consultation leg carries silence, not a microphone.
        this.webPhone!.once("outboundCall", (consult: OutboundCallSession) => {
          consult.once("mediaStreamSet", (stream: MediaStream) => {
            for (const t of stream.getAudioTracks()) {
              stream.removeTrack(t);
              t.stop();
            }
            stream.addTrack(this.graph().silentTrack());
          });
        });
        const { complete, newSession } = await cs.warmTransfer(cmd.target);
        if (newSession.state !== "answered") throw new Error(`the transfer target did not answer (${newSession.state})`);
        await complete();
        return;
      }
      case "recording": {
        const cs = this.session(cmd.sipCallId);
        const result = cmd.action === "start" ? await cs.startRecording() : await cs.stopRecording();
        if (result.code !== 0) throw new Error(`recording ${cmd.action} refused: ${result.description}`);
        return;
      }
      case "unregister":
        await this.unregister();
        return;
      case "reconnect":
        if (!this.sip) throw new Error("not registered");
        await this.sip.reconnect(cmd.backup, cmd.sipInfo);
        this.emit({ type: "registered" });
        return;
      case "ping":
        return;
      default:
        throw new Error(`unknown command ${(cmd as { type: string }).type}`);
    }
  }

  /** Call sessions alive: ours and the WebPhone's own list (both must drain when calls end). */
  sessionCount(): number {
    return Math.max(this.sessions.size, this.webPhone?.callSessions.length ?? 0);
  }

  /** WebRTC stats of every call, for diagnostics (window.phone.stats() in DevTools with HEADLESS=false). */
  async stats(): Promise<Record<string, unknown[]>> {
    const out: Record<string, unknown[]> = {};
    for (const [id, cs] of this.sessions) {
      const report = await cs.rtcPeerConnection?.getStats();
      out[id] = report ? [...report.values()].filter((s: { type: string }) => ["outbound-rtp", "inbound-rtp", "codec", "candidate-pair", "media-source"].includes(s.type)) : [];
    }
    return out;
  }

  private session(sipCallId: string): CallSession {
    const cs = this.sessions.get(sipCallId);
    if (!cs) throw new Error(`no call session ${sipCallId}`);
    return cs;
  }
}

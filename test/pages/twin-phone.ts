// A bare page for the twin's own tests: the unmodified WebPhone, an oscillator as its voice,
// an analyser on what it hears. Not the product's page (that is browser/).
import WebPhone from "ringcentral-web-phone";
import type { SipInfo } from "ringcentral-web-phone/types";
import type InboundCallSession from "ringcentral-web-phone/call-session/inbound";

type CallSession = InboundCallSession;

declare global {
  interface Window {
    phone: ReturnType<typeof makePhone>;
  }
}

/** What the page knows about one call session, readable from the test. */
export interface PageCall {
  callId: string;
  direction: string;
  sessionId: string | undefined;
  partyId: string | undefined;
  /** The INVITE's Alert-Info ("Auto Answer" for Call Control answers), inbound only. */
  alertInfo: string | null;
  state: string;
  answeredAtMs: number | null;
  disposedAtMs: number | null;
}

function makePhone() {
  let webPhone: WebPhone | undefined;
  const ctx = new AudioContext({ sampleRate: 48000 });
  const events: string[] = [];
  const calls: PageCall[] = [];
  let answerMode: "auto-all" | "manual" = "auto-all";
  let voiceHz = 1000;
  let last: CallSession | undefined;
  const heard: { analyser?: AnalyserNode } = {};

  function voice(hz: number): MediaStreamTrack {
    const osc = new OscillatorNode(ctx, { frequency: hz });
    const gain = new GainNode(ctx, { gain: 0.25 });
    const dest = new MediaStreamAudioDestinationNode(ctx, { channelCount: 1 });
    osc.connect(gain).connect(dest);
    osc.start();
    return dest.stream.getAudioTracks()[0];
  }

  function wire(cs: CallSession, hz: number, alertInfo: string | null) {
    last = cs;
    const record: PageCall = {
      callId: cs.callId,
      direction: cs.direction,
      sessionId: cs.sessionId,
      partyId: cs.partyId,
      alertInfo,
      state: cs.state,
      answeredAtMs: null,
      disposedAtMs: null,
    };
    calls.push(record);
    cs.on("mediaStreamSet", (stream: MediaStream) => {
      for (const t of stream.getAudioTracks()) {
        stream.removeTrack(t);
        t.stop();
      }
      stream.addTrack(voice(hz));
    });
    cs.on("answered", () => {
      events.push(`answered:${cs.direction}`);
      // Outbound sessions learn their Call-ID, session and party ids from the 183.
      Object.assign(record, { callId: cs.callId, sessionId: cs.sessionId, partyId: cs.partyId, state: "answered", answeredAtMs: Date.now() });
      const pc = cs.rtcPeerConnection!;
      const track = pc.getReceivers()[0].track;
      const stream = new MediaStream([track]);
      const el = new Audio();
      el.muted = true;
      el.srcObject = stream;
      void el.play().catch(() => {});
      const src = ctx.createMediaStreamSource(stream);
      heard.analyser = new AnalyserNode(ctx, { fftSize: 8192 });
      src.connect(heard.analyser);
    });
    cs.on("disposed", () => {
      events.push(`disposed:${cs.direction}`);
      Object.assign(record, { state: "disposed", disposedAtMs: Date.now() });
    });
  }

  /** One reading of what the page hears: dominant frequency (parabolic peak) and RMS level in dBFS. */
  function listen(): { hz: number; db: number } {
    const a = heard.analyser;
    if (!a) return { hz: 0, db: -Infinity };
    const bins = new Float32Array(a.frequencyBinCount);
    a.getFloatFrequencyData(bins);
    let best = 1;
    for (let i = 2; i < bins.length - 1; i++) if (bins[i] > bins[best]) best = i;
    // Bins are in dB (log power): a parabola through the peak and its neighbours finds the true peak.
    const [l, c, r] = [bins[best - 1], bins[best], bins[best + 1]];
    const denom = l - 2 * c + r;
    const shift = Number.isFinite(denom) && denom !== 0 ? (0.5 * (l - r)) / denom : 0;
    const time = new Float32Array(a.fftSize);
    a.getFloatTimeDomainData(time);
    let sum = 0;
    for (const v of time) sum += v * v;
    return { hz: ((best + shift) * ctx.sampleRate) / a.fftSize, db: 10 * Math.log10(sum / time.length) };
  }

  return {
    events,
    calls,
    async start(sipInfo: SipInfo, opts: { autoAnswer?: boolean; hz?: number; manual?: boolean } = {}) {
      await ctx.resume();
      answerMode = opts.manual ? "manual" : "auto-all";
      voiceHz = opts.hz ?? 1000;
      webPhone = new WebPhone({ sipInfo, autoAnswer: opts.autoAnswer ?? true, debug: false });
      webPhone.on("inboundCall", (cs: CallSession) => {
        events.push(`inbound:${cs.sessionId}:${cs.partyId}`);
        const alertInfo = cs.sipMessage.getHeader("Alert-Info") ?? null;
        wire(cs, voiceHz, alertInfo);
        // Calls with Alert-Info are left to the WebPhone's own autoAnswer.
        if (answerMode === "auto-all" && !alertInfo) void cs.answer();
      });
      webPhone.on("outboundCall", (cs: CallSession) => wire(cs, voiceHz, null));
      await webPhone.start();
      events.push("registered");
    },
    /** "manual": ringing calls wait for answer()/decline(); "auto-all": the page answers every call at once. */
    setAnswerMode(mode: "auto-all" | "manual") {
      answerMode = mode;
    },
    async call(number: string) {
      const session = await webPhone!.call(number);
      events.push(`call-result:${session.state}`);
      return { state: session.state, callId: session.callId, sessionId: session.sessionId, partyId: session.partyId };
    },
    async answer() {
      await last!.answer();
    },
    async decline() {
      await last!.decline();
    },
    async hangup() {
      await last!.hangup();
    },
    async transfer(target: string) {
      await last!.transfer(target);
    },
    async startRecording() {
      await last!.startRecording();
    },
    state: () => last?.state,
    sessions: () => webPhone!.callSessions.length,
    /** The WebPhone's live sessions (disposed ones are removed from its list). */
    liveSessions: () => webPhone!.callSessions.map((s) => ({ callId: s.callId, direction: s.direction, state: s.state })),
    listen,
    /** Readings every `everyMs` for `durationMs`: the median frequency and level, and each reading. */
    async measure(durationMs = 1000, everyMs = 100) {
      const readings: Array<{ hz: number; db: number }> = [];
      for (let t = 0; t < durationMs; t += everyMs) {
        readings.push(listen());
        await new Promise((r) => setTimeout(r, everyMs));
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      return { hz: median(readings.map((r) => r.hz)), db: median(readings.map((r) => r.db)), readings };
    },
    async dispose() {
      await webPhone?.dispose();
    },
  };
}

window.phone = makePhone();

// A bare page for the twin's own tests: the unmodified WebPhone, an oscillator as its voice,
// an analyser on what it hears. Not the product's page (that is browser/).
import WebPhone from "ringcentral-web-phone";
import type { SipInfo } from "ringcentral-web-phone/types";

type CallSession = WebPhone["callSessions"][number];

declare global {
  interface Window {
    phone: ReturnType<typeof makePhone>;
  }
}

function makePhone() {
  let webPhone: WebPhone | undefined;
  const ctx = new AudioContext({ sampleRate: 48000 });
  const events: string[] = [];
  let answerMode: "auto-all" | "manual" = "auto-all";
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

  function wire(cs: CallSession, hz: number) {
    last = cs;
    cs.on("mediaStreamSet", (stream: MediaStream) => {
      for (const t of stream.getAudioTracks()) {
        stream.removeTrack(t);
        t.stop();
      }
      stream.addTrack(voice(hz));
    });
    cs.on("answered", () => {
      events.push(`answered:${cs.direction}`);
      const pc = cs.rtcPeerConnection!;
      const onTrack = () => {
        const track = pc.getReceivers()[0].track;
        const stream = new MediaStream([track]);
        const el = new Audio();
        el.muted = true;
        el.srcObject = stream;
        void el.play().catch(() => {});
        const src = ctx.createMediaStreamSource(stream);
        heard.analyser = new AnalyserNode(ctx, { fftSize: 8192 });
        src.connect(heard.analyser);
      };
      onTrack();
    });
    cs.on("disposed", () => events.push(`disposed:${cs.direction}`));
  }

  return {
    events,
    async start(sipInfo: SipInfo, opts: { autoAnswer?: boolean; hz?: number; manual?: boolean } = {}) {
      await ctx.resume();
      answerMode = opts.manual ? "manual" : "auto-all";
      webPhone = new WebPhone({ sipInfo, autoAnswer: opts.autoAnswer ?? true, debug: false });
      webPhone.on("inboundCall", (cs: CallSession) => {
        events.push(`inbound:${cs.sessionId}:${cs.partyId}`);
        wire(cs, opts.hz ?? 1000);
        if (answerMode === "auto-all" && !cs.sipMessage.headers["Alert-Info"]) void cs.answer();
      });
      webPhone.on("outboundCall", (cs: CallSession) => wire(cs, opts.hz ?? 1000));
      await webPhone.start();
      events.push("registered");
    },
    async call(number: string) {
      const ok = await webPhone!.call(number);
      events.push(`call-result:${String(ok)}`);
      return { ok, sessionId: last?.sessionId, partyId: last?.partyId };
    },
    async answer() {
      await last!.answer();
    },
    async decline() {
      await (last as unknown as { decline(): Promise<void> }).decline();
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
    /** Dominant frequency and level of what the page hears now. */
    listen() {
      const a = heard.analyser;
      if (!a) return { hz: 0, db: -Infinity };
      const bins = new Float32Array(a.frequencyBinCount);
      a.getFloatFrequencyData(bins);
      let best = 0;
      for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
      const time = new Float32Array(a.fftSize);
      a.getFloatTimeDomainData(time);
      let sum = 0;
      for (const v of time) sum += v * v;
      return { hz: (best * ctx.sampleRate) / a.fftSize, db: 10 * Math.log10(sum / time.length) };
    },
    async dispose() {
      await webPhone?.dispose();
    },
  };
}

window.phone = makePhone();

/**
 * The bench's pipeline: a Twilio Media Streams server in its own process (forked by bench/run.ts,
 * talking over the IPC channel), so its work is not counted as the host's and its event loop
 * never delays the host's. What each stream does is planned by the parent per caller number
 * (`customParameters.from`); when the stream ends, a report goes back to the parent.
 *
 * Audio: μ-law 8 kHz (audio/x-mulaw) or L16 (audio/x-l16, any rate), as the start message says.
 */
import alawmulaw from "alawmulaw";
import { WebSocketServer, type WebSocket } from "ws";
import { OnsetDetector, ToneWriter, presence10ms } from "./audio.ts";
import { nowMs } from "./stats.ts";

export type Plan = (
  /** Pipeline → caller bursts (timestamped as sent), and caller → pipeline onsets detected per frame. */
  | {
      kind: "latency";
      hz: number;
      burstMs: number;
      everyMs: number;
      count: number;
      leadInMs: number;
      detectHz: number;
      /**
       * Paced: from `start` on, one 20 ms frame per 20 ms of real time (silence, the bursts inside),
       * as an echo or a real-time TTS does, instead of each burst at once from the first caller frame.
       */
      paced?: boolean;
    }
  /** `reps` times: `toneMs` of tone at once, then `clear` after the given delay, then `gapMs` quiet. */
  | { kind: "clear"; hz: number; toneMs: number; clearAfterMs: number[]; gapMs: number; leadInMs: number }
  /** Every caller media message straight back. */
  | { kind: "echo" }
  /** A continuous tone sent ahead of real time (`aheadMs` first, then `chunkMs` every `chunkMs`), as TTS does; caller tone continuity checked. */
  | { kind: "stream"; hz: number; aheadMs: number; chunkMs: number; detectHz: number }
) & {
  /** Digits sent to the caller (`dtmf`) this long after the caller's audio first arrives. */
  dtmf?: { digits: string; afterMs: number };
  /** The pipeline closes its WebSocket this long after the caller's audio first arrives (ends the call). */
  closeAfterMs?: number;
};

export interface StreamReport {
  from: string;
  callSid: string;
  streamSid: string;
  encoding: string;
  sampleRate: number;
  startAtMs: number;
  firstMediaAtMs: number | undefined;
  mediaFrames: number;
  /** Longest wait between two caller media messages, after the first. */
  longestArrivalGapMs: number;
  /** When each burst's first media message was sent (latency plan). */
  burstsSentAtMs: number[];
  /** When each clear was sent, and each tone before it (clear plan). */
  clearsSentAtMs: number[];
  tonesSentAtMs: number[];
  /** Caller tone onsets: receive time of the frame holding the onset block, and its sample index in the stream. */
  onsets: Array<{ atMs: number; sample: number; frameSample: number }>;
  /** Caller tone presence in what the pipeline received (stream plan), one "1"/"0" per 10 ms block from the first frame. */
  callerPresence: string;
  /** Agent samples sent. */
  sentSamples: number;
}

type ParentMessage = { type: "plan"; from: string; plan: Plan } | { type: "stop" };

interface Stream {
  ws: WebSocket;
  plan: Plan | undefined;
  report: StreamReport;
  mulaw: boolean;
  rate: number;
  detector: OnsetDetector | undefined;
  audio: Float32Array | undefined;
  audioLen: number;
  lastArrival: number;
  timers: NodeJS.Timeout[];
  cleanup: Array<() => void>;
}

const plans = new Map<string, Plan>();

function send(msg: unknown): void {
  process.send?.(msg);
}

function sendAudio(s: Stream, pcm: Int16Array, chunkSamples = s.rate / 50): void {
  if (s.ws.readyState !== s.ws.OPEN) return;
  for (let i = 0; i < pcm.length; i += chunkSamples) {
    const part = pcm.subarray(i, i + chunkSamples);
    const payload = s.mulaw ? Buffer.from(alawmulaw.mulaw.encode(part)).toString("base64") : Buffer.from(part.buffer, part.byteOffset, part.byteLength).toString("base64");
    s.ws.send(`{"event":"media","streamSid":"${s.report.streamSid}","media":{"payload":"${payload}"}}`);
  }
  s.report.sentSamples += pcm.length;
}

function decode(s: Stream, payload: string): Int16Array {
  const bytes = Buffer.from(payload, "base64");
  if (s.mulaw) return alawmulaw.mulaw.decode(bytes);
  return new Int16Array(Uint8Array.from(bytes).buffer);
}

function later(s: Stream, ms: number, fn: () => void): void {
  s.timers.push(setTimeout(fn, ms));
}

/** Starts a plan's sending side once the caller's audio flows (media is up by then or soon after). */
function begin(s: Stream): void {
  const plan = s.plan;
  if (!plan) return;
  const { dtmf, closeAfterMs } = plan;
  if (dtmf) later(s, dtmf.afterMs, () => s.ws.readyState === s.ws.OPEN && s.ws.send(JSON.stringify({ event: "dtmf", streamSid: s.report.streamSid, dtmf: { digits: dtmf.digits } })));
  if (closeAfterMs !== undefined) later(s, closeAfterMs, () => s.ws.close(1000, "bench pipeline done"));
  if (plan.kind === "latency" && plan.paced) return;
  if (plan.kind === "latency") {
    const tone = new ToneWriter(plan.hz, s.rate);
    let i = 0;
    const burst = () => {
      if (i >= plan.count || s.ws.readyState !== s.ws.OPEN) return;
      tone.reset();
      const pcm = tone.next(plan.burstMs);
      s.report.burstsSentAtMs.push(nowMs());
      sendAudio(s, pcm);
      i++;
    };
    // One timer per burst from one origin: no drift, and each send is timestamped as it happens.
    const t0 = performance.now() + plan.leadInMs;
    for (let k = 0; k < plan.count; k++) later(s, t0 + k * plan.everyMs - performance.now(), burst);
  } else if (plan.kind === "clear") {
    const tone = new ToneWriter(plan.hz, s.rate);
    let at = plan.leadInMs;
    plan.clearAfterMs.forEach((clearAfter) => {
      later(s, at, () => {
        s.report.tonesSentAtMs.push(nowMs());
        sendAudio(s, tone.next(plan.toneMs));
      });
      later(s, at + clearAfter, () => {
        if (s.ws.readyState !== s.ws.OPEN) return;
        s.report.clearsSentAtMs.push(nowMs());
        s.ws.send(`{"event":"clear","streamSid":"${s.report.streamSid}"}`);
      });
      at += clearAfter + plan.gapMs;
    });
  } else if (plan.kind === "stream") {
    const tone = new ToneWriter(plan.hz, s.rate);
    sendAudio(s, tone.next(plan.aheadMs));
    const timer = setInterval(() => sendAudio(s, tone.next(plan.chunkMs)), plan.chunkMs);
    s.cleanup.push(() => clearInterval(timer));
  }
}

/**
 * The paced latency plan: from `start`, 20 ms frames on a real-time clock (a late tick sends what
 * it owes), so frames sent before the call's media is up queue at the host, as a real-time pipeline's do.
 */
function pace(s: Stream, plan: Extract<Plan, { kind: "latency" }>): void {
  const frame = s.rate / 50;
  const tone = new ToneWriter(plan.hz, s.rate);
  const silence = new Int16Array(frame);
  const t0 = performance.now();
  const burstFrames = Math.round(plan.burstMs / 20);
  const everyFrames = Math.round(plan.everyMs / 20);
  const leadFrames = Math.round(plan.leadInMs / 20);
  const total = leadFrames + plan.count * everyFrames;
  let sent = 0;
  const tick = () => {
    const owed = Math.min(total, Math.floor((performance.now() - t0) / 20) + 1);
    for (; sent < owed; sent++) {
      const k = sent - leadFrames;
      const inBurst = k >= 0 && k % everyFrames < burstFrames;
      if (inBurst && k % everyFrames === 0) {
        tone.reset();
        s.report.burstsSentAtMs.push(nowMs());
      }
      sendAudio(s, inBurst ? tone.next(20) : silence);
    }
    if (sent >= total) clearInterval(timer);
  };
  const timer = setInterval(tick, 10);
  tick();
  s.cleanup.push(() => clearInterval(timer));
}

function onMedia(s: Stream, payload: string, at: number): void {
  const r = s.report;
  if (r.firstMediaAtMs === undefined) {
    r.firstMediaAtMs = at;
    begin(s);
  } else r.longestArrivalGapMs = Math.max(r.longestArrivalGapMs, at - s.lastArrival);
  s.lastArrival = at;
  r.mediaFrames++;
  const plan = s.plan;
  if (plan?.kind === "echo") {
    if (s.ws.readyState === s.ws.OPEN) s.ws.send(`{"event":"media","streamSid":"${r.streamSid}","media":{"payload":"${payload}"}}`);
    return;
  }
  if (!plan || plan.kind === "clear") return;
  const pcm = decode(s, payload);
  if (s.detector) {
    const frameStart = s.detector.samples;
    for (const sample of s.detector.push(pcm)) r.onsets.push({ atMs: at, sample, frameSample: sample - frameStart });
  }
  if (s.audio) {
    if (s.audioLen + pcm.length > s.audio.length) {
      const grown = new Float32Array(s.audio.length * 2);
      grown.set(s.audio);
      s.audio = grown;
    }
    for (let i = 0; i < pcm.length; i++) s.audio[s.audioLen + i] = pcm[i] / 32768;
    s.audioLen += pcm.length;
  }
}

function finish(s: Stream): void {
  for (const t of s.timers) clearTimeout(t);
  for (const c of s.cleanup) c();
  const plan = s.plan;
  if (plan?.kind === "stream" && s.audio) {
    s.report.callerPresence = presence10ms(s.audio.subarray(0, s.audioLen), s.rate, plan.detectHz, -30).map((p) => (p ? "1" : "0")).join("");
  }
  send({ type: "report", report: s.report });
}

async function main(): Promise<void> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  wss.on("connection", (ws) => {
    let s: Stream | undefined;
    ws.on("message", (data) => {
      const at = nowMs();
      const text = data.toString();
      // Media is by far the most frequent message: pull the payload out without a full parse.
      if (s && text.startsWith('{"event":"media"')) {
        const m = text.match(/"payload":"([^"]*)"/);
        if (m) onMedia(s, m[1], at);
        return;
      }
      const msg = JSON.parse(text) as { event: string; start?: { callSid: string; streamSid: string; mediaFormat: { encoding: string; sampleRate: number }; customParameters: Record<string, string> } };
      if (msg.event === "start" && msg.start) {
        // Outbound calls all come from the host's number: the bench tells them apart by `benchKey`.
        const from = msg.start.customParameters.benchKey ?? msg.start.customParameters.from;
        const plan = plans.get(from);
        plans.delete(from);
        const mulaw = msg.start.mediaFormat.encoding === "audio/x-mulaw";
        const rate = msg.start.mediaFormat.sampleRate;
        s = {
          ws,
          plan,
          mulaw,
          rate,
          detector: plan && (plan.kind === "latency" || plan.kind === "stream") ? new OnsetDetector(plan.detectHz, rate) : undefined,
          audio: plan?.kind === "stream" ? new Float32Array(rate * 40) : undefined,
          audioLen: 0,
          lastArrival: 0,
          timers: [],
          cleanup: [],
          report: {
            from,
            callSid: msg.start.callSid,
            streamSid: msg.start.streamSid,
            encoding: msg.start.mediaFormat.encoding,
            sampleRate: rate,
            startAtMs: at,
            firstMediaAtMs: undefined,
            mediaFrames: 0,
            longestArrivalGapMs: 0,
            burstsSentAtMs: [],
            clearsSentAtMs: [],
            tonesSentAtMs: [],
            onsets: [],
            callerPresence: "",
            sentSamples: 0,
          },
        };
        send({ type: "started", from, callSid: msg.start.callSid, atMs: at });
        if (plan?.kind === "latency" && plan.paced) pace(s, plan);
      }
    });
    ws.on("close", () => {
      if (s) finish(s);
    });
  });
  process.on("message", (m: ParentMessage) => {
    if (m.type === "plan") plans.set(m.from, m.plan);
    else if (m.type === "stop") {
      for (const c of wss.clients) c.terminate();
      wss.close(() => process.exit(0));
    }
  });
  send({ type: "ready", url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`, clockSkewMs: nowMs() - Date.now() });
}

void main();

/**
 * Barge-in on the Twilio profile: a pipeline that talks, notices the caller talking over it,
 * stops at once (`clear`), works out from its marks how much of its reply the caller actually
 * heard, and says a short "go ahead".
 *
 *   npx tsx examples/barge-in-pipeline.ts --port 8767
 *   then PIPELINE_URL=ws://127.0.0.1:8767 (PIPELINE_PROTOCOL=twilio, PIPELINE_AUDIO=mulaw: the defaults)
 *
 * The three ideas, each a few lines below:
 *  1. Send the whole reply at once, with a `mark` after each sentence. The host plays it in real
 *     time and echoes each mark only once the caller could have heard the audio before it.
 *  2. Watch the caller's level (a simple energy VAD on the decoded μ-law). Loud for 60 ms while
 *     the reply is playing means the caller is talking over it: send `clear`. (A real pipeline
 *     would use a proper VAD, which also copes with noise and with its own voice echoed back.)
 *  3. After a `clear` the host returns every mark still pending at once. So marks that came back
 *     before the clear are sentences the caller heard; the first one after it is the sentence that
 *     was cut off; the rest were never played.
 *
 * The "speech" is tones (one pitch per sentence, in syllables) unless examples/audio/agent-reply.wav
 * exists (split into sentences at its pauses); the acknowledgement is examples/audio/go-ahead.wav
 * if present, else two short beeps.
 */
import alawmulaw from "alawmulaw";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import wavefile from "wavefile";
import { WebSocketServer, type WebSocket } from "ws";

const RATE = 8000; // audio/x-mulaw is always 8 kHz
const FRAME = RATE / 50; // 20 ms = 160 samples = 160 μ-law bytes

const REPLY_WAV = fileURLToPath(new URL("./audio/agent-reply.wav", import.meta.url));
const ACK_WAV = fileURLToPath(new URL("./audio/go-ahead.wav", import.meta.url));

/** Pitches of the synthesized sentences: one each, so a listener can tell which one it heard. */
export const SENTENCE_HZ = [440, 550, 660, 770, 880];

export interface BargeInOptions {
  /** A 20 ms caller frame at least this loud (dBFS, RMS) counts as talking. */
  vadThresholdDb?: number;
  /** Consecutive loud frames that make a barge-in (so a click or a cough does not). */
  vadFrames?: number;
  log?: (line: string) => void;
}

export interface BargeInStream {
  streamSid: string;
  callSid: string;
  /** The reply's marks, one after each sentence, in order. */
  sentences: string[];
  /** Sentences whose marks came back before the clear: the caller heard them in full. */
  heard: string[];
  /** The sentence playing when the caller cut in (its mark came back after the clear). */
  cutOff?: string;
  /** Sentences that never played. */
  unheard: string[];
  /** When the caller cut in, in ms since `start`. */
  bargeInAtMs?: number;
  ackPlayed: boolean;
  stopped: boolean;
}

export interface BargeInPipeline {
  url: string;
  streams: BargeInStream[];
  close(): Promise<void>;
}

interface TwilioMessage {
  event: string;
  start?: { streamSid: string; callSid: string; mediaFormat: { encoding: string; sampleRate: number } };
  media?: { payload: string };
  mark?: { name: string };
}

export async function startBargeInPipeline(port = 0, host = "127.0.0.1", opts: BargeInOptions = {}): Promise<BargeInPipeline> {
  const thresholdDb = opts.vadThresholdDb ?? -35;
  const vadFrames = opts.vadFrames ?? 3;
  const log = opts.log ?? ((line: string) => console.log(line));
  const reply = loadReply();
  const ack = loadAck();

  const wss = new WebSocketServer({ port, host });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  const streams: BargeInStream[] = [];

  wss.on("connection", (ws: WebSocket) => {
    let s: BargeInStream | undefined;
    let phase: "replying" | "interrupted" | "acknowledging" | "listening" = "listening";
    let loudFrames = 0;
    let startedAt = 0;
    const say = (line: string) => log(`[${s?.streamSid.slice(0, 10) ?? "?"}…] ${line}`);
    const send = (msg: object) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(msg));

    /** Audio goes out as fast as we like: the host paces it. 20 ms a message, as Twilio's own. */
    const sendAudio = (pcm: Int16Array) => {
      const ulaw = alawmulaw.mulaw.encode(pcm);
      for (let i = 0; i < ulaw.length; i += FRAME) {
        send({ event: "media", streamSid: s!.streamSid, media: { payload: Buffer.from(ulaw.subarray(i, i + FRAME)).toString("base64") } });
      }
    };
    const sendMark = (name: string) => send({ event: "mark", streamSid: s!.streamSid, mark: { name } });

    // 1. The whole reply in one burst, a mark after each sentence.
    const speakReply = () => {
      phase = "replying";
      reply.forEach((pcm, i) => {
        sendAudio(pcm);
        sendMark(s!.sentences[i]);
      });
      say(`replying: ${reply.length} sentences, ${seconds(reply)} s, sent in one burst`);
    };

    // 2. Energy VAD on the caller's audio.
    const onCallerAudio = (pcm: Int16Array) => {
      const db = levelDb(pcm);
      loudFrames = db >= thresholdDb ? loudFrames + 1 : 0;
      if (phase === "replying" && loudFrames >= vadFrames) {
        phase = "interrupted";
        s!.bargeInAtMs = Date.now() - startedAt;
        send({ event: "clear", streamSid: s!.streamSid });
        say(`caller talks over the reply (${db.toFixed(0)} dBFS): clear`);
      }
    };

    // 3. Marks: before the clear, heard; after it, cut off or never played.
    const onMark = (name: string) => {
      if (name === "go-ahead") {
        s!.ackPlayed = true;
        phase = "listening";
        return say(`"go ahead" played: listening`);
      }
      if (phase === "replying") {
        s!.heard.push(name);
        say(`heard ${name}`);
        if (s!.heard.length === s!.sentences.length) {
          phase = "listening";
          say("reply played in full");
        }
        return;
      }
      if (phase !== "interrupted") return;
      // A mark whose audio finished less than ~60 ms before the clear (still on the host's send
      // path) also comes back now, first: so the "cut off" sentence may just have ended.
      if (!s!.cutOff) s!.cutOff = name;
      else s!.unheard.push(name);
      if (s!.heard.length + 1 + s!.unheard.length < s!.sentences.length) return;
      const heardPcm = reply.slice(0, s!.heard.length);
      say(
        `the caller heard ${s!.heard.length} of ${s!.sentences.length} sentences in full (${seconds(heardPcm)} of ${seconds(reply)} s); ` +
          `${s!.cutOff} was cut off${s!.unheard.length ? `; never played: ${s!.unheard.join(", ")}` : ""}`,
      );
      phase = "acknowledging";
      sendAudio(ack);
      sendMark("go-ahead");
      say(`saying "go ahead"`);
    };

    ws.on("message", (data) => {
      let msg: TwilioMessage;
      try {
        msg = JSON.parse(data.toString()) as TwilioMessage;
      } catch {
        return;
      }
      switch (msg.event) {
        case "start": {
          const start = msg.start!;
          if (start.mediaFormat.encoding !== "audio/x-mulaw") {
            log(`this example speaks μ-law; got ${start.mediaFormat.encoding}: set PIPELINE_AUDIO=mulaw`);
            return ws.close(1003, "audio/x-mulaw only");
          }
          s = { streamSid: start.streamSid, callSid: start.callSid, sentences: reply.map((_, i) => `sentence-${i + 1}`), heard: [], unheard: [], ackPlayed: false, stopped: false };
          streams.push(s);
          startedAt = Date.now();
          say(`start: call ${start.callSid}`);
          return speakReply();
        }
        case "media":
          if (s && msg.media) onCallerAudio(alawmulaw.mulaw.decode(Buffer.from(msg.media.payload, "base64")));
          return;
        case "mark":
          if (s && msg.mark) onMark(msg.mark.name);
          return;
        case "stop":
          if (s) s.stopped = true;
          return say("stop: call ended");
      }
    });
  });

  const address = wss.address() as { port: number };
  return {
    url: `ws://${host}:${address.port}`,
    streams,
    close: () =>
      new Promise((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

// ── audio helpers ────────────────────────────────────────────────────────────────

/** RMS level of a frame in dBFS (silence ≈ -120). */
function levelDb(pcm: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) sum += pcm[i] * pcm[i];
  return 10 * Math.log10(sum / Math.max(1, pcm.length) / 32768 ** 2 + 1e-12);
}

function seconds(parts: Int16Array[]): string {
  return (parts.reduce((n, p) => n + p.length, 0) / RATE).toFixed(1);
}

/** A tone with 10 ms ramps at both ends (no clicks). */
function tone(hz: number, ms: number, amplitude = 0.25): Int16Array {
  const n = Math.round((RATE * ms) / 1000);
  const ramp = RATE / 100;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const edge = Math.min(1, i / ramp, (n - 1 - i) / ramp);
    out[i] = Math.round(amplitude * edge * 32767 * Math.sin((2 * Math.PI * hz * i) / RATE));
  }
  return out;
}

function silence(ms: number): Int16Array {
  return new Int16Array(Math.round((RATE * ms) / 1000));
}

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Mono PCM16 at 8 kHz from a WAV file of any rate and depth. */
function readWav(path: string): Int16Array {
  const wav = new wavefile.WaveFile(readFileSync(path));
  wav.toBitDepth("16");
  if ((wav.fmt as { sampleRate: number }).sampleRate !== RATE) wav.toSampleRate(RATE);
  const samples = wav.getSamples(false, Int16Array) as unknown as Int16Array | Int16Array[];
  return Array.isArray(samples) ? samples[0] : samples;
}

/** The reply as sentences: the WAV cut at its pauses (≥ 300 ms quieter than -45 dBFS), or tones. */
function loadReply(): Int16Array[] {
  if (!existsSync(REPLY_WAV)) {
    // Each sentence: seven 160 ms "syllables" at its own pitch, then a 300 ms pause.
    return SENTENCE_HZ.map((hz) => concat([...Array.from({ length: 7 }, () => concat([tone(hz, 160), silence(40)])), silence(300)]));
  }
  const pcm = readWav(REPLY_WAV);
  const sentences: Int16Array[] = [];
  let from = 0;
  let quiet = 0;
  for (let at = 0; at + FRAME <= pcm.length; at += FRAME) {
    quiet = levelDb(pcm.subarray(at, at + FRAME)) < -45 ? quiet + 1 : 0;
    if (quiet === 15 && at + FRAME - from > 15 * FRAME * 2) {
      sentences.push(pcm.slice(from, at + FRAME));
      from = at + FRAME;
    }
  }
  // A short tail (trailing silence) joins the last sentence.
  if (pcm.length - from >= 15 * FRAME || sentences.length === 0) sentences.push(pcm.slice(from));
  else if (pcm.length > from) sentences[sentences.length - 1] = concat([sentences[sentences.length - 1], pcm.slice(from)]);
  return sentences;
}

function loadAck(): Int16Array {
  if (existsSync(ACK_WAV)) return readWav(ACK_WAV);
  // Pitches no sentence uses, so a listener can tell the acknowledgement from the reply.
  return concat([tone(1000, 120), silence(60), tone(1250, 160)]);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf("--port");
  const port = i > 0 ? Number(process.argv[i + 1]) : 8767;
  const p = await startBargeInPipeline(port);
  console.log(`barge-in pipeline listening on ${p.url}`);
}

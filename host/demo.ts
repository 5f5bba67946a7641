/**
 * `npm run demo`: the whole product on one machine with no account and no network: the offline
 * RingCentral twin, this host with real Chrome and WebRTC, and the echo pipeline. The twin's
 * caller says a short sentence; the pipeline says it back; the summary shows what was measured.
 * `--agent=openai`: the openai-realtime connector answers instead, against the loopback stand-in
 * of OpenAI's Realtime API: it greets, the caller talks over it, it hangs up with its tool.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import wavefile from "wavefile";
import { startEchoPipeline, type EchoPipeline } from "../examples/echo-pipeline.ts";
import { startRealtimeStandin } from "../examples/openai-realtime-standin.ts";
import { startTwin } from "../twin/server.ts";
import { toneSpan } from "../twin/caller/analysis.ts";
import { ConfigError, loadConfig, loadDotEnv, type Config } from "./config.ts";
import { reportConfigError } from "./config-cli.ts";
import { Host } from "./host.ts";
import { createLogger } from "./log.ts";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const SPEECH = join(root, "examples/audio/caller-speech.wav");
/** A short beep before the speech: its echo gives the round-trip latency. */
const BEEP_HZ = 1000;
const BEEP_AT_MS = 600;
/** --agent=openai: the stand-in's greeting, and when the caller starts talking over it. */
const GREETING_HZ = 440;
const GREETING_MS = 4000;
/** The caller talks over the greeting once this much of it has played. */
const BARGE_IN_AFTER_SAMPLES = 8000;
/** Not a secret: the stand-in accepts only this key, so the demo shows the key being checked. */
const DEMO_KEY = "sk-demo-standin-not-a-real-key";
type Standin = Awaited<ReturnType<typeof startRealtimeStandin>>;

const say = (line: string) => process.stdout.write(`${line}\n`);

function wavDurationMs(path: string): number {
  const wav = new wavefile.WaveFile(readFileSync(path));
  const fmt = wav.fmt as { sampleRate: number; numChannels: number; bitsPerSample: number };
  const bytes = (wav.data as { chunkSize: number }).chunkSize;
  return Math.round((bytes / (fmt.numChannels * (fmt.bitsPerSample / 8)) / fmt.sampleRate) * 1000);
}

async function main(): Promise<number> {
  loadDotEnv();
  const agent = process.argv.slice(2).find((a) => a.startsWith("--agent="))?.slice("--agent=".length) ?? "echo";
  if (agent !== "echo" && agent !== "openai") return (say(`demo: --agent=${agent} is not known: use --agent=echo (the default) or --agent=openai`), 2);
  say("demo: starting the offline RingCentral twin (REST, SIP over WSS, WebRTC caller) on loopback");
  const twin = await startTwin({ log: pino({ level: "silent" }) });
  let echo: EchoPipeline | undefined;
  let standin: Standin | undefined;
  // DEMO_PIPELINE_URL, not PIPELINE_URL: a .env made for real calls must not take the demo elsewhere.
  const pipelineUrl = agent === "echo" ? process.env.DEMO_PIPELINE_URL : undefined;
  if (agent === "openai") {
    standin = await startRealtimeStandin({ apiKey: DEMO_KEY, greetingMs: GREETING_MS, greetingHz: GREETING_HZ });
    // The greeting starts once the call's media flows, as a model's first words come ~0.5 s in.
    standin.holdGreetings = true;
    say(`demo: openai-realtime connector, with a loopback stand-in of OpenAI's Realtime API at ${standin.url}`);
  } else if (!pipelineUrl) {
    echo = await startEchoPipeline();
    say(`demo: echo pipeline (Twilio Media Streams) at ${echo.url}`);
  } else say(`demo: using your pipeline at ${pipelineUrl}`);
  const agentEnv = standin
    ? { PIPELINE_PROTOCOL: "openai-realtime", OPENAI_API_KEY: DEMO_KEY, OPENAI_REALTIME_URL: standin.url, OPENAI_TOOLS: "hang_up" }
    : { PIPELINE_URL: pipelineUrl ?? echo!.url };

  let config: Config;
  try {
    // Only what changes how the demo looks is taken from the environment: a .env made for real
    // calls (webhook mode, another protocol, a recordings folder) must not change what it shows.
    const keep = ["HEADLESS", "CHROME_PATH", "PUPPETEER_EXECUTABLE_PATH", "LOG_LEVEL"] as const;
    const env = Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
    config = loadConfig({
      ...env,
      RINGCENTRAL_SERVER_URL: twin.restUrl,
      RINGCENTRAL_CLIENT_ID: twin.clientId,
      RINGCENTRAL_CLIENT_SECRET: twin.clientSecret,
      RINGCENTRAL_JWT_TOKEN: twin.jwt,
      RINGCENTRAL_SIP_INSECURE_TLS: "true",
      ...agentEnv,
      HTTP_PORT: "0",
      SIP_INFO_CACHE: join(root, ".cache/demo-sip-info.json"),
    });
  } catch (err) {
    await twin.stop();
    await echo?.close();
    await standin?.close();
    return err instanceof ConfigError ? reportConfigError(err) : (say(`demo: ${(err as Error).message}`), 1);
  }
  if (!config.chrome.headless && !process.env.DISPLAY) {
    say("demo: HEADLESS=false needs a display; on a server run: xvfb-run -a env HEADLESS=false npm run demo");
    await twin.stop();
    await echo?.close();
    await standin?.close();
    return 2;
  }
  // The demo's own lines go to stdout; the host's JSON log to stderr, quiet unless LOG_LEVEL says otherwise.
  const log = createLogger(process.env.LOG_LEVEL ? config.logLevel : "warn", { destination: pino.destination(2) });
  const host = new Host(config, log);
  const t0 = performance.now();
  let code = 1;
  try {
    await host.start();
    say(`demo: Chrome ${config.chrome.headless ? "headless" : "headful"} is up and the WebPhone registered in ${Math.round(performance.now() - t0)} ms`);
    const speechMs = existsSync(SPEECH) ? wavDurationMs(SPEECH) : 0;
    let play = speechMs ? `silence/${BEEP_AT_MS},tone:${BEEP_HZ}/150,silence/650,wav:${SPEECH}` : `silence/${BEEP_AT_MS},tone:${BEEP_HZ}/150,silence/650,tone:440/2000`;
    let hangupAfterMs = BEEP_AT_MS + 800 + (speechMs || 2000) + 1500;
    // openai: the caller is quiet until openAiStep has it talk over the greeting; the agent's
    // hang_up tool ends the call, the caller's hang-up is only a fallback.
    if (standin) [play, hangupAfterMs] = ["silence", 20_000];
    const placed = (await (
      await fetch(`${twin.controlUrl}/calls`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ from: "+16505550199", callerName: "Demo Caller", play, hangupAfterMs }) })
    ).json()) as { callId: string };
    say(
      standin
        ? "demo: the twin is calling the host's number; the caller will talk over the agent's greeting, then the agent hangs up"
        : `demo: the twin is calling the host's number; the caller will speak for ${((BEEP_AT_MS + 800 + speechMs) / 1000).toFixed(1)} s and hang up`,
    );
    let last = "";
    let call: TwinCall;
    let step = 0;
    for (;;) {
      call = (await (await fetch(`${twin.controlUrl}/calls/${placed.callId}`)).json()) as TwinCall;
      if (call.state !== last) {
        say(`demo: call ${call.state}${call.state === "answered" ? ` (codec ${call.codec})` : ""}${call.state === "ended" ? ` (${call.endReason})` : ""}`);
        last = call.state;
      }
      if (call.state === "ended") break;
      if (standin) step = await openAiStep(standin, step, call, host, `${twin.controlUrl}/calls/${placed.callId}/play`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const wav = Buffer.from(await (await fetch(`${twin.controlUrl}/calls/${placed.callId}/recording.wav`)).arrayBuffer());
    await mkdir(join(root, "recordings"), { recursive: true });
    const recordingPath = join(root, "recordings", `demo-caller-${new Date().toISOString().replace(/[:.]/g, "-")}.wav`);
    await writeFile(recordingPath, wav);
    const latencyMs = echoLatencyMs(wav, call);
    const hostCall = host.calls.list()[0];
    const stream = hostCall?.streamStats;
    const toPipeline = stream?.callerFrames ?? 0;
    const rate = config.pipeline.profile.sampleRate;
    const fromPipeline = Math.round((stream?.agentSamples ?? 0) / (rate / 50));
    say("");
    say("demo summary");
    say(`  answered:                 ${call.answeredAtMs ? "yes" : "no"} (codec ${call.codec ?? "none"})`);
    say(`  caller → pipeline:        ${toPipeline} frames of 20 ms`);
    say(`  pipeline → caller:        ${fromPipeline} frames of 20 ms queued, ${call.heard?.frames ?? 0} RTP packets heard by the caller`);
    if (standin) {
      const o = openAiSummary(standin, wav, call);
      for (const line of o.lines) say(line);
      code = call.answeredAtMs && toPipeline > 0 && o.ok ? 0 : 1;
      say(`  caller's recording:       ${recordingPath}`);
      if (code) say("demo: the connector did not greet, stop at the barge-in and hang up; run with LOG_LEVEL=debug to see why");
      return code;
    }
    say(`  echo round trip:          ${latencyMs === undefined ? "not measured (beep not heard back)" : `${latencyMs} ms (caller → host → pipeline → host → caller, beep onset)`}`);
    say(`  caller's recording:       ${recordingPath}`);
    code = call.answeredAtMs && toPipeline > 0 && fromPipeline > 0 && latencyMs !== undefined ? 0 : 1;
    if (code) say("demo: audio did not flow both ways; run with LOG_LEVEL=debug to see why");
  } catch (err) {
    say(`demo: failed: ${(err as Error).message}`);
  } finally {
    await host.stop().catch(() => {});
    await echo?.close();
    await standin?.close();
    await twin.stop();
  }
  return code;
}

interface TwinCall {
  state: string;
  codec: string | null;
  endReason: string | null;
  answeredAtMs: number | null;
  caller: { connectedAtMs: number | null };
  heard: { startedAtMs: number | null; frames: number } | null;
}

/**
 * --agent=openai, one step a poll: greet once RTP reaches the caller, talk over the greeting once
 * 1 s of it has played, and once the caller's turn is over the agent hangs up with its tool.
 */
async function openAiStep(standin: Standin, step: number, call: TwinCall, host: Host, playUrl: string): Promise<number> {
  const s = standin.sessions[0];
  if (!s) return step;
  if (step === 0 && (call.heard?.frames ?? 0) >= 25) return (s.greet(), 1);
  if (step === 1 && (host.calls.list()[0]?.stream?.probeTargets.playout.playedSamples ?? 0) >= BARGE_IN_AFTER_SAMPLES) {
    await fetch(playUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ play: `tone:${BEEP_HZ}@-12/1200,silence` }) });
    return 2;
  }
  if (step === 2 && s.truncates.length && s.speechStoppedAtMs) return (s.callTool("hang_up", {}), 3);
  return step;
}

/** --agent=openai: what the caller heard of the greeting, the barge-in, the truncate and the tool. */
function openAiSummary(standin: Standin, wav: Buffer, call: TwinCall): { lines: string[]; ok: boolean } {
  const s = standin.sessions[0];
  const w = new wavefile.WaveFile(wav);
  w.toBitDepth("32f");
  const samples = w.getSamples(false, Float32Array) as unknown as Float32Array;
  const span = toneSpan(samples, (w.fmt as { sampleRate: number }).sampleRate, GREETING_HZ, -40);
  const heardMs = span ? span.endMs - span.startMs : 0;
  const truncate = s?.truncates[0];
  const silentAfterMs = span && call.heard?.startedAtMs && s?.speechStartedAtMs ? call.heard.startedAtMs + span.endMs - s.speechStartedAtMs : undefined;
  const sentMs = s?.greetingSent ? `${s.greetingSent.lastMs - s.greetingSent.firstMs} ms` : "?";
  return {
    lines: [
      `  greeting heard:           ${heardMs} ms of ${GREETING_MS} ms (all sent in ${sentMs}), then the caller spoke over it`,
      `  barge-in:                 ${silentAfterMs === undefined ? "not measured" : `${silentAfterMs} ms from speech_started to silence at the caller`}`,
      `  truncate:                 ${truncate ? `audio_end_ms ${truncate.audio_end_ms} (the caller's recording shows ${heardMs}, in 10 ms blocks)` : "none sent"}`,
      `  hang_up tool:             ${call.endReason === "agent-hangup" ? "the agent ended the call" : `not used (${call.endReason})`}`,
    ],
    ok: Boolean(span && truncate && heardMs < GREETING_MS - 300 && call.endReason === "agent-hangup"),
  };
}

/** When the beep comes back, measured on the caller's recording against when the caller sent it. */
function echoLatencyMs(wav: Buffer, call: TwinCall): number | undefined {
  if (!call.heard?.startedAtMs || !call.caller.connectedAtMs) return undefined;
  const w = new wavefile.WaveFile(wav);
  w.toBitDepth("32f");
  const samples = w.getSamples(false, Float32Array) as unknown as Float32Array;
  const span = toneSpan(samples, (w.fmt as { sampleRate: number }).sampleRate, BEEP_HZ, -40);
  if (!span) return undefined;
  return Math.round(call.heard.startedAtMs + span.startMs - (call.caller.connectedAtMs + BEEP_AT_MS));
}

process.exit(await main());

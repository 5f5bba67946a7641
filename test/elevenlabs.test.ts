import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { ElevenLabsSession } from "../bridge/pipeline/elevenlabs.ts";
import type { PipelineCallAction, PipelineHandlers, PipelineProfile } from "../bridge/pipeline/index.ts";
import { startElevenLabsStandin } from "../examples/elevenlabs-standin.ts";
import { until } from "./support/until.ts";

const KEY = "xi-unit-test-key-abcdef123456";
const AGENT = "agent_unit_0123";
const info = { callSid: "s-1", accountId: "a", from: "+15550001111", to: "+15550002222", direction: "inbound" as const, customParameters: { callId: "c-1", order: "A17" } };
const profile = (options: Record<string, string> = {}, encoding: "mulaw" | "l16" = "mulaw", sampleRate: 8000 | 16000 = 8000): PipelineProfile => ({ protocol: "elevenlabs", encoding, sampleRate, options: { ELEVENLABS_AGENT_ID: AGENT, ELEVENLABS_TOOLS: "hang_up,send_dtmf,transfer", ...options } });

function handlers() {
  const playout = { pushedSamples: 0, playedSamples: 0, playingSamples: () => playout.playedSamples };
  const seen = { audio: 0, clears: 0, marks: [] as string[], bad: [] as string[], notes: [] as Array<{ msg: string; fields: Record<string, unknown> }>, actions: [] as PipelineCallAction[], transcript: [] as string[], dropped: 0 };
  const h: PipelineHandlers = {
    playout,
    onAudio: (pcm) => {
      seen.audio += pcm.length;
      playout.pushedSamples += pcm.length;
    },
    onMark: (name) => void seen.marks.push(name),
    onClear: () => void seen.clears++,
    onSendDtmf() {},
    onHangup() {},
    onDropped: () => void seen.dropped++,
    onBadMessage: (p) => void seen.bad.push(p),
    onCallAction: async (a) => {
      seen.actions.push(a);
      if (a.kind === "transfer") throw new Error("RingCentral refused the transfer");
    },
    onTranscript: (role, text) => void seen.transcript.push(`${role}: ${text}`),
    onNote: (fields, msg) => void seen.notes.push({ msg, fields }),
  };
  return { h, playout, seen };
}

/** One session against a bare loopback server that answers the initiation with `formats`. */
async function setup(opts: { options?: Record<string, string>; formats?: [string, string] | null; encoding?: "mulaw" | "l16"; rate?: 8000 | 16000 } = {}) {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise((r) => wss.once("listening", r));
  const got: Array<Record<string, unknown>> = [];
  let server: WebSocket | undefined;
  let path = "";
  wss.on("connection", (ws, req) => {
    server = ws;
    path = req.url ?? "";
    ws.on("message", (d) => {
      const e = JSON.parse(d.toString());
      got.push(e);
      if (e.type === "conversation_initiation_client_data" && opts.formats !== null) {
        const [input, output] = opts.formats ?? ["ulaw_8000", "ulaw_8000"];
        ws.send(JSON.stringify({ type: "conversation_initiation_metadata", conversation_initiation_metadata_event: { conversation_id: "conv_1", user_input_audio_format: input, agent_output_audio_format: output } }));
      }
    });
  });
  const { h, playout, seen } = handlers();
  const session = new ElevenLabsSession({ url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/v1/convai/conversation`, connectTimeoutMs: 1500 }, profile(opts.options, opts.encoding, opts.rate), h);
  const opened = session.open(info);
  const send = (e: unknown) => server!.send(typeof e === "string" ? e : JSON.stringify(e));
  const audio = (eventId: number, samples: number) => send({ type: "audio", audio_event: { audio_base_64: Buffer.alloc(samples, 0xff).toString("base64"), event_id: eventId } });
  return { wss, got, session, opened, playout, seen, send, audio, path: () => path, close: () => (session.close("done"), new Promise((r) => wss.close(r))) };
}

let env: Awaited<ReturnType<typeof setup>> | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

describe("elevenlabs session", () => {
  it("a public agent: agent_id on the URL, then the initiation with the call's dynamic variables and overrides", async () => {
    env = await setup({ options: { ELEVENLABS_FIRST_MESSAGE: "Hi, Acme here.", ELEVENLABS_LANGUAGE: "en" } });
    await env.opened;
    expect(env.path()).toBe(`/v1/convai/conversation?agent_id=${AGENT}`);
    expect(env.got[0]).toEqual({
      type: "conversation_initiation_client_data",
      dynamic_variables: { callId: "c-1", order: "A17", caller_number: "+15550001111", called_number: "+15550002222", call_id: "c-1", direction: "inbound" },
      conversation_config_override: { agent: { first_message: "Hi, Acme here.", language: "en" } },
    });
    expect(env.seen.notes[0]).toMatchObject({ msg: "elevenlabs: conversation started", fields: { conversationId: "conv_1", input: "ulaw_8000", output: "ulaw_8000" } });
  });

  it("plays audio, answers pings with the same event_id, and on interruption clears and reports what the caller heard", async () => {
    env = await setup();
    await env.opened;
    const { playout, audio, send, got, seen } = env;
    audio(1, 8000); // 1 s, all of it heard
    await until(() => seen.audio === 8000, "turn 1");
    playout.playedSamples = 8000;
    audio(2, 8000);
    audio(3, 8000); // 2 s arrive at once…
    await until(() => seen.audio === 24000, "turn 2");
    playout.playedSamples = 8000 + 4040; // …of which 505 ms were played
    send({ type: "ping", ping_event: { event_id: 42, ping_ms: 20 } });
    send({ type: "interruption", interruption_event: { event_id: 4 } });
    await until(() => seen.clears === 1 && got.some((e) => e.type === "pong"), "the clear and the pong");
    expect(got.find((e) => e.type === "pong")).toEqual({ type: "pong", event_id: 42 });
    expect(seen.notes.find((n) => n.msg.startsWith("elevenlabs: the caller spoke over"))?.fields).toEqual({ heardMs: 505, receivedMs: 2000, eventId: 4 });
    // Audio of the cut reply still in flight never plays; the next reply does.
    audio(3, 800);
    audio(4, 800);
    await until(() => seen.audio === 24800, "the next reply");
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.audio).toBe(24800);
  });

  it("malformed events are counted, never fatal; unknown ones are ignored; transcripts are kept", async () => {
    env = await setup();
    await env.opened;
    const { send, seen, got } = env;
    send("{not json");
    send("null");
    send({ no: "type" });
    send({ type: "vad_score", vad_score_event: { vad_score: 0.5 } });
    send({ type: "audio", audio_event: { audio_base_64: 7 } });
    send({ type: "ping" });
    send({ type: "client_tool_call", client_tool_call: { tool_name: "hang_up" } });
    send({ type: "agent_response", agent_response_event: { agent_response: "Hello there." } });
    send({ type: "user_transcript", user_transcription_event: { user_transcript: "I need a plumber." } });
    send({ type: "agent_response_correction", agent_response_correction_event: { original_agent_response: "Hello there.", corrected_agent_response: "Hello..." } });
    send({ type: "ping", ping_event: { event_id: 1 } });
    await until(() => got.some((e) => e.type === "pong"), "the session to carry on");
    expect(seen.bad).toEqual(["event is not JSON", "event without a type", "event without a type", expect.stringMatching(/^audio: audio_event/), expect.stringMatching(/^ping: ping_event/), expect.stringMatching(/^client_tool_call: client_tool_call.tool_call_id/)]);
    expect(seen.transcript).toEqual(["agent: Hello there.", "caller: I need a plumber.", "agent: Hello..."]);
    expect(seen.actions).toEqual([]);
  });

  it("client tools run once their mark has played; a tool not offered or bad parameters come back as is_error", async () => {
    env = await setup({ options: { ELEVENLABS_TOOLS: "send_dtmf,transfer" } });
    await env.opened;
    const { send, seen, session, got } = env;
    const call = (id: string, name: string, parameters: unknown) => send({ type: "client_tool_call", client_tool_call: { tool_name: name, tool_call_id: id, parameters } });
    call("t1", "send_dtmf", { digits: "12#" });
    call("t2", "hang_up", {});
    call("t3", "transfer", { number: "+16505550100", mode: "warm" });
    call("t4", "send_dtmf", { digits: "12x" });
    await until(() => seen.marks.length === 4, "four marks");
    expect(seen.actions).toEqual([]);
    for (const m of seen.marks) session.sendMarkPlayed(m);
    const results = () => got.filter((e) => e.type === "client_tool_result");
    await until(() => results().length === 4, "four results");
    expect(Object.fromEntries(results().map((r) => [r.tool_call_id, [r.is_error, r.result]]))).toEqual({
      t1: [false, "done"],
      t2: [true, "the tool hang_up is not available on this call"],
      t3: [true, "RingCentral refused the transfer"],
      t4: [true, expect.stringMatching(/^digits: /)],
    });
    expect(seen.actions).toEqual([{ kind: "dtmf", digits: "12#" }, { kind: "transfer", target: "+16505550100", mode: "warm" }]);
  });

  it("the agent's formats: another encoding at the call's rate is taken as it is, another rate is a clear error", async () => {
    env = await setup({ formats: ["pcm_8000", "pcm_8000"] });
    await env.opened;
    env.audio(1, 320); // 160 PCM16 samples
    await until(() => env!.seen.audio === 160, "PCM16 audio on a μ-law call's rate");
    await env.close();
    env = await setup({ formats: ["ulaw_8000", "pcm_16000"] });
    await expect(env.opened).rejects.toThrow("ElevenLabs: the agent's agent_output_audio_format is pcm_16000 but ELEVENLABS_AUDIO runs calls at 8000 Hz: set ELEVENLABS_AUDIO=pcm_16000 or the agent's audio format to ulaw_8000");
    await env.close();
    env = await setup({ formats: ["pcm_44100", "pcm_16000"], encoding: "l16", rate: 16000 });
    await expect(env.opened).rejects.toThrow(/user_input_audio_format is pcm_44100, which this host cannot carry/);
    await env.close();
    env = await setup({ formats: null });
    await expect(env.opened).rejects.toThrow("ElevenLabs sent no conversation_initiation_metadata within 1500 ms");
  });

  it("pcm_16000 both ways on a 16 kHz call: PCM16 passes as it is, μ-law on an 8 kHz one is encoded", async () => {
    env = await setup({ formats: ["pcm_16000", "pcm_16000"], encoding: "l16", rate: 16000 });
    await env.opened;
    const frame = new Int16Array(320).map((_, i) => (i % 2 ? 1000 : -1000));
    env.session.sendCallerAudio(frame);
    await until(() => env!.got.some((e) => typeof e.user_audio_chunk === "string"), "the caller's chunk");
    const chunk = Buffer.from(String(env.got.find((e) => e.user_audio_chunk)!.user_audio_chunk), "base64");
    expect(chunk.length).toBe(640);
    expect(new Int16Array(Uint8Array.from(chunk).buffer)).toEqual(frame);
    env.audio(1, 640);
    await until(() => env!.seen.audio === 320, "16 kHz agent audio");
    await env.close();
    env = await setup();
    await env.opened;
    env.session.sendCallerAudio(new Int16Array(160));
    await until(() => env!.got.some((e) => typeof e.user_audio_chunk === "string"), "the caller's chunk");
    expect(Buffer.from(String(env.got.find((e) => e.user_audio_chunk)!.user_audio_chunk), "base64")).toEqual(Buffer.alloc(160, 0xff));
  });

  it("a private agent: a signed URL fetched with the key, which never goes on the socket; a refused key says what to fix", async () => {
    const standin = await startElevenLabsStandin({ agentId: AGENT, apiKey: KEY, greetingMs: 200 });
    try {
      const ok = handlers();
      const s = new ElevenLabsSession({ url: standin.url, connectTimeoutMs: 2000 }, profile({ ELEVENLABS_API_KEY: KEY }), ok.h);
      await s.open(info);
      await until(() => standin.sessions[0]?.greetingSent, "the greeting");
      expect(standin.sessions[0].path).toMatch(new RegExp(`^/v1/convai/conversation\\?agent_id=${AGENT}&conversation_signature=sig_`));
      expect(JSON.stringify(standin.sessions[0])).not.toContain(KEY);
      await until(() => ok.seen.audio >= 1600, "the greeting's audio");
      s.close("done");

      const bad = handlers();
      const wrong = new ElevenLabsSession({ url: standin.url, connectTimeoutMs: 2000 }, profile({ ELEVENLABS_API_KEY: "xi-wrong-key-000000000" }), bad.h);
      const err = await wrong.open(info).then(() => undefined, (e: Error) => e);
      expect(err?.message).toBe("ElevenLabs refused the API key (HTTP 401): check ELEVENLABS_API_KEY");
      // Without a key the private agent's socket is refused, and the error says why.
      const none = new ElevenLabsSession({ url: standin.url, connectTimeoutMs: 2000 }, profile(), handlers().h);
      expect((await none.open(info).then(() => undefined, (e: Error) => e))?.message).toBe("ElevenLabs refused the conversation (HTTP 403): a private agent needs ELEVENLABS_API_KEY");
      expect(standin.refused).toHaveLength(2);
    } finally {
      await standin.close();
    }
  });

  it("a drop mid-conversation is reported; one before the conversation started fails the open", async () => {
    env = await setup();
    await env.opened;
    for (const c of env.wss.clients) c.terminate();
    await until(() => env!.seen.dropped === 1, "the drop");
    await env.close();
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise((r) => wss.once("listening", r));
    wss.on("connection", (ws) => ws.on("message", () => ws.close(1008, "bad initiation")));
    const s = new ElevenLabsSession({ url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`, connectTimeoutMs: 2000 }, profile(), handlers().h);
    const err = await s.open(info).then(() => undefined, (e: Error) => e);
    await new Promise((r) => wss.close(r));
    expect(err?.message).toBe("ElevenLabs closed the conversation before it started (1008 bad initiation)");
  });
});

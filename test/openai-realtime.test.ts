import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { OpenAiRealtimeSession } from "../bridge/pipeline/openai-realtime.ts";
import type { PipelineCallAction, PipelineHandlers } from "../bridge/pipeline/index.ts";
import { until } from "./support/until.ts";

const KEY = "sk-unit-test-key-abcdef123456";
const info = { callSid: "s-1", accountId: "a", from: "+15550001111", to: "+15550002222", direction: "inbound" as const, customParameters: {} };

/** One session against a bare loopback server; playout and host are plain objects the test moves by hand. */
async function setup(options: Record<string, string> = {}) {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise((r) => wss.once("listening", r));
  const got: Array<Record<string, unknown>> = [];
  let server: WebSocket | undefined;
  let auth: string | undefined;
  wss.on("connection", (ws, req) => {
    server = ws;
    auth = req.headers.authorization;
    ws.on("message", (d) => got.push(JSON.parse(d.toString())));
  });
  const playout = { pushedSamples: 0, playedSamples: 0, playingSamples: () => playout.playedSamples };
  const seen = { audio: 0, clears: 0, marks: [] as string[], bad: [] as string[], notes: [] as string[], actions: [] as PipelineCallAction[], transcript: [] as string[] };
  const handlers: PipelineHandlers = {
    playout,
    onAudio: (pcm) => {
      seen.audio += pcm.length;
      playout.pushedSamples += pcm.length;
    },
    onMark: (name) => void seen.marks.push(name),
    onClear: () => void seen.clears++,
    onSendDtmf() {},
    onHangup() {},
    onDropped() {},
    onBadMessage: (p) => void seen.bad.push(p),
    onCallAction: async (a) => {
      seen.actions.push(a);
      if (a.kind === "transfer") throw new Error("RingCentral refused the transfer");
    },
    onTranscript: (role, text) => void seen.transcript.push(`${role}: ${text}`),
    onNote: (fields, msg) => void seen.notes.push(`${msg} ${JSON.stringify(fields)}`),
  };
  const profile = { protocol: "openai-realtime", encoding: "mulaw" as const, sampleRate: 8000 as const, options: { OPENAI_API_KEY: KEY, OPENAI_MODEL: "gpt-realtime", OPENAI_VOICE: "marin", OPENAI_INSTRUCTIONS: "Be brief.", OPENAI_TOOLS: "hang_up,send_dtmf,transfer", ...options } };
  const session = new OpenAiRealtimeSession({ url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/v1/realtime`, connectTimeoutMs: 2000 }, profile, handlers);
  await session.open(info);
  await until(() => server && got.length >= 2, "session.update and response.create");
  const send = (e: unknown) => server!.send(typeof e === "string" ? e : JSON.stringify(e));
  const delta = (itemId: string, samples: number) => send({ type: "response.output_audio.delta", item_id: itemId, delta: Buffer.alloc(samples, 0xff).toString("base64") });
  return { wss, got, session, playout, seen, send, delta, auth: () => auth, close: () => (session.close("done"), new Promise((r) => wss.close(r))) };
}

let env: Awaited<ReturnType<typeof setup>> | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

describe("openai-realtime session", () => {
  it("opens with the key only in the upgrade's Authorization, then session.update and response.create", async () => {
    env = await setup();
    expect(env.auth()).toBe(`Bearer ${KEY}`);
    expect(env.got.map((e) => e.type)).toEqual(["session.update", "response.create"]);
    expect(JSON.stringify(env.got)).not.toContain(KEY);
  });

  it("truncates the agent's item to what the page consumed of it, not to what arrived, and drops its late audio", async () => {
    env = await setup();
    const { playout, delta, send, got, seen } = env;
    delta("item_a", 8000); // 1 s, all of it heard
    await until(() => seen.audio === 8000, "item a");
    playout.playedSamples = 8000;
    delta("item_b", 16000); // 2 s arrive at once…
    await until(() => seen.audio === 24000, "item b");
    playout.playedSamples = 8000 + 4040; // …of which 505 ms were played
    send({ type: "input_audio_buffer.speech_started", item_id: "item_caller", audio_start_ms: 100 });
    await until(() => got.some((e) => e.type === "conversation.item.truncate"), "the truncate");
    expect(seen.clears).toBe(1);
    expect(got.find((e) => e.type === "conversation.item.truncate")).toEqual({ type: "conversation.item.truncate", item_id: "item_b", content_index: 0, audio_end_ms: 505 });
    // A delta of the cut item still in flight never plays.
    delta("item_b", 800);
    send({ type: "rate_limits.updated" });
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.audio).toBe(24000);
    // Speech again with nothing playing: clear, but no truncate.
    send({ type: "input_audio_buffer.speech_started" });
    await until(() => seen.clears === 2, "the second clear");
    expect(got.filter((e) => e.type === "conversation.item.truncate")).toHaveLength(1);
  });

  it("ignores unknown events, counts malformed ones, and keeps transcripts", async () => {
    env = await setup();
    const { send, seen } = env;
    send("not json");
    send({ type: "session.updated", session: {} });
    send({ type: "response.output_audio.delta", item_id: 7 });
    send({ type: "response.output_audio_transcript.done", item_id: "i1", transcript: "Hello there." });
    send({ type: "conversation.item.input_audio_transcription.completed", item_id: "i2", transcript: "I need a plumber." });
    send({ type: "error", error: { type: "invalid_request_error", code: "bad_thing", message: "nope" } });
    await until(() => seen.notes.length === 1, "the error note");
    expect(seen.bad).toEqual(["event is not JSON", expect.stringMatching(/^response.output_audio.delta: /)]);
    expect(seen.transcript).toEqual(["agent: Hello there.", "caller: I need a plumber."]);
    expect(seen.notes[0]).toMatch(/openai: error event .*bad_thing/);
  });

  it("runs a tool once its mark has played, and answers the model with the outcome", async () => {
    env = await setup({ OPENAI_TOOLS: "send_dtmf,transfer" });
    const { send, seen, session, got } = env;
    send({ type: "response.function_call_arguments.done", call_id: "c1", name: "send_dtmf", arguments: '{"digits":"12#"}' });
    send({ type: "response.function_call_arguments.done", call_id: "c2", name: "hang_up", arguments: "{}" });
    send({ type: "response.function_call_arguments.done", call_id: "c3", name: "transfer", arguments: '{"number":"+16505550100"}' });
    await until(() => seen.marks.length === 3, "three marks");
    expect(seen.actions).toEqual([]); // nothing runs before the audio ahead of it has played
    for (const m of seen.marks) session.sendMarkPlayed(m);
    const outputOf = () => got.filter((e) => e.type === "conversation.item.create").map((e) => e.item as { call_id: string; output: string });
    await until(() => outputOf().length === 3, "three outputs");
    const outputs = outputOf();
    expect(Object.fromEntries(outputs.map((o) => [o.call_id, JSON.parse(o.output)]))).toEqual({
      c1: { ok: true },
      c2: { ok: false, error: "the tool hang_up is not available on this call" },
      c3: { ok: false, error: "RingCentral refused the transfer" },
    });
    expect(seen.actions).toEqual([{ kind: "dtmf", digits: "12#" }, { kind: "transfer", target: "+16505550100", mode: "blind" }]);
    expect(got.filter((e) => e.type === "response.create")).toHaveLength(4);
  });

  it("a refused key says what to fix, without the key", async () => {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", verifyClient: (_i, cb) => cb(false, 401, "Unauthorized") });
    await new Promise((r) => wss.once("listening", r));
    const s = new OpenAiRealtimeSession({ url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/v1/realtime`, connectTimeoutMs: 2000 }, { protocol: "openai-realtime", encoding: "mulaw", sampleRate: 8000, options: { OPENAI_API_KEY: KEY } }, {} as PipelineHandlers);
    const err = await s.open(info).then(() => undefined, (e: Error) => e);
    await new Promise((r) => wss.close(r));
    expect(err?.message).toBe("OpenAI refused the API key (HTTP 401): check OPENAI_API_KEY");
  });

  it("an API that cannot be reached fails the open with the reason, without the key", async () => {
    // A port that was just free: nothing listens there.
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise((r) => wss.once("listening", r));
    const port = (wss.address() as { port: number }).port;
    await new Promise((r) => wss.close(r));
    const s = new OpenAiRealtimeSession({ url: `ws://127.0.0.1:${port}/v1/realtime`, connectTimeoutMs: 2000 }, { protocol: "openai-realtime", encoding: "mulaw", sampleRate: 8000, options: { OPENAI_API_KEY: KEY } }, {} as PipelineHandlers);
    const err = await s.open(info).then(() => undefined, (e: Error) => e);
    expect(err?.message).toBe(`pipeline ws://127.0.0.1:${port}/v1/realtime?… unreachable: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(err?.message).not.toContain(KEY);
  });
});

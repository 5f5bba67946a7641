import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dominantHz, rmsDbfs, toneSpan } from "../twin/caller/analysis.ts";
import { startElevenLabsStandin, type ElevenLabsStandinSession } from "../examples/elevenlabs-standin.ts";
import { PageLink } from "../bridge/page-link.ts";
import { createLogger } from "../host/log.ts";
import { startStack, until, type Stack } from "./support/stack.ts";
import { expectAgentHangup, expectBlindTransfer, twinHeardDigits } from "./support/tool-checks.ts";

const KEY = "xi-test-elevenlabs-0123456789abcdef";
const AGENT = "agent_e2e_0123456789";
const API_TOKEN = "api-token-elevenlabs-0123456789abcdef";
const GREETING_HZ = 440;
const GREETING_MS = 4000;
/** The page reports its playout position once per 20 ms caller frame. */
const FRAME_MS = 20;

/** Milliseconds of the tone the caller heard between its edges: a hole the page played (a late host on a loaded machine) is not counted. */
function loudMs(samples: Float32Array, rate: number, span: { startMs: number; endMs: number }): number {
  const ms = rate / 1000;
  let n = 0;
  for (let at = span.startMs; at < span.endMs; at++) if (rmsDbfs(samples, at * ms, (at + 1) * ms) > -40) n++;
  return n;
}

/** The tone's first and last millisecond in a recording of it and silence (10 ms blocks, then 1 ms edges). */
function toneEdgesMs(samples: Float32Array, rate: number, hz: number): { startMs: number; endMs: number } | undefined {
  const span = toneSpan(samples, rate, hz, -40);
  if (!span) return undefined;
  const ms = rate / 1000;
  const loud = (at: number) => at >= 0 && (at + 1) * ms <= samples.length && rmsDbfs(samples, at * ms, (at + 1) * ms) > -40;
  let startMs = span.startMs - 10;
  while (!loud(startMs) && startMs < span.startMs + 10) startMs++;
  let endMs = span.endMs + 10;
  while (!loud(endMs - 1) && endMs > span.endMs - 10) endMs--;
  return { startMs, endMs };
}

type Standin = Awaited<ReturnType<typeof startElevenLabsStandin>>;

/** Everything the host gives the page (its code, every command), watched to show the key is never in it. */
const toPage: string[] = [];
const { send, listen } = PageLink.prototype;
PageLink.prototype.send = function (this: PageLink, cmd) {
  toPage.push(JSON.stringify(cmd));
  return send.call(this, cmd);
};
PageLink.prototype.listen = function (this: PageLink, bundle) {
  toPage.push(...Object.values(bundle));
  return listen.call(this, bundle);
};

/** The host's log lines, parsed: what the connector said about each call. */
function capturedLog() {
  const lines: Array<Record<string, unknown> & { msg: string }> = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) {
        raw.push(line);
        lines.push(JSON.parse(line));
      }
      done();
    },
  });
  return { log: createLogger("info", { destination }), lines, raw };
}

interface HostCallView {
  state: string;
  endReason: string | null;
  transcript: Array<{ role: string; text: string }>;
  stream: { badMessages: number; reconnects: number } | null;
}

/** ElevenLabs Agents as the pipeline, through real Chrome and the twin's caller, against a loopback stand-in. */
describe("elevenlabs profile", () => {
  let standin: Standin;
  let stack: Stack;
  const captured = capturedLog();
  beforeAll(async () => {
    standin = await startElevenLabsStandin({ agentId: AGENT, apiKey: KEY, greetingMs: GREETING_MS, greetingHz: GREETING_HZ, sendOddEvents: true, pingIntervalMs: 500 });
    stack = await startStack(
      { PIPELINE_PROTOCOL: "elevenlabs", ELEVENLABS_AGENT_ID: AGENT, ELEVENLABS_API_KEY: KEY, ELEVENLABS_URL: standin.url, ELEVENLABS_TOOLS: "hang_up,transfer,send_dtmf", PIPELINE_DROP_ACTION: "reconnect", API_TOKEN },
      {},
      { log: captured.log },
    );
  });
  afterAll(async () => {
    await stack?.stop();
    await standin?.close();
  });

  const hostCall = (telephonySessionId: string) => stack.host.calls.byTelephonySession(telephonySessionId);
  const view = async (telephonySessionId: string) => (await stack.host.viewCall(hostCall(telephonySessionId)!.id)) as unknown as HostCallView;

  it("greets, a caller who talks over the agent silences it, and the host's heard figure is what the caller's recording shows", async () => {
    const before = standin.sessions.length;
    standin.holdGreetings = true;
    const placed = await stack.placeCall({ from: "+15550009200", play: "silence", codecs: ["PCMU", "opus"] });
    const s: ElevenLabsStandinSession = await until(() => standin.sessions[before]?.initiation && standin.sessions[before], "the conversation's initiation");
    standin.holdGreetings = false;
    const call = hostCall(placed.telephonySessionId)!;
    // Who calls whom, as dynamic variables; the signed URL carried the signature, never the key.
    expect(s.initiation).toMatchObject({ type: "conversation_initiation_client_data", dynamic_variables: { caller_number: "+15550009200", called_number: expect.any(String), call_id: call.id, direction: "inbound" } });
    expect(s.path).toMatch(new RegExp(`^/v1/convai/conversation\\?agent_id=${AGENT}&conversation_signature=`));
    await until(async () => ((await stack.twinCall(placed.callId)).heard?.frames ?? 0) >= 25, "RTP from the page at the caller");
    s.greet();
    const playout = () => hostCall(placed.telephonySessionId)?.stream?.probeTargets.playout;
    await until(() => (playout()?.playedSamples ?? 0) >= 8000, "1 s of the greeting played");
    await fetch(`${stack.twin.controlUrl}/calls/${placed.callId}/play`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ play: "tone:1000@-12/1500,silence" }) });
    const interruption = await until(() => s.interruptions[0], "the interruption", 15_000);
    const note = await until(() => captured.lines.find((l) => l.msg.startsWith("elevenlabs: the caller spoke over the agent") && l.call === call.id), "the host's heard figure");
    await until(() => s.speechStoppedAtMs, "the caller's turn to end", 15_000);
    await until(() => s.pongs.length >= 3, "pongs to the stand-in's pings");
    await stack.hangupFromCaller(placed.callId);
    await until(async () => (await stack.twinState(placed.callId)) === "ended", "the call to end", 15_000);
    expect((await stack.twinCall(placed.callId)).codec).toBe("PCMU");

    // The greeting was sent much faster than real time, so what arrived says nothing of what was heard.
    const sent = s.greetingSent!;
    expect(sent.lastMs - sent.firstMs).toBeLessThan(500);
    expect(note.receivedMs).toBe(GREETING_MS);

    const rec = await stack.recording(placed.callId);
    const span = toneEdgesMs(rec.samples, rec.rate, GREETING_HZ)!;
    expect(span).toBeDefined();
    // The caller heard the agent: the greeting's frequency and level, measured.
    const hz = dominantHz(rec.samples, rec.rate, Math.round(((span.startMs + 50) * rec.rate) / 1000), Math.round(((span.endMs - 50) * rec.rate) / 1000));
    expect(Math.abs(hz - GREETING_HZ)).toBeLessThan(GREETING_HZ * 0.02);
    expect(rmsDbfs(rec.samples, Math.round(((span.startMs + 50) * rec.rate) / 1000), Math.round(((span.endMs - 50) * rec.rate) / 1000))).toBeGreaterThan(-20);
    const heardMs = loudMs(rec.samples, rec.rate, span);
    // The interruption silenced it: nothing of the remainder reached the caller.
    expect(heardMs).toBeLessThan(GREETING_MS - 300);
    expect(toneSpan(rec.samples.subarray(Math.round(((span.endMs + 100) * rec.rate) / 1000)), rec.rate, GREETING_HZ, -40)).toBeUndefined();
    const errorMs = (note.heardMs as number) - heardMs;
    const silentAfterMs = rec.startedAtMs + span.endMs - interruption.atMs;
    const underruns = (await view(placed.telephonySessionId)).stream as unknown as { underruns: number };
    console.log(`[elevenlabs] PCMU barge-in: heard ${heardMs} ms of the greeting (at ${span.startMs}–${span.endMs} ms, ${hz.toFixed(1)} Hz, ${underruns.underruns} underruns), host's heardMs ${note.heardMs} (error ${errorMs} ms); interruption → silence at the caller ${silentAfterMs} ms; ${s.pongs.length} pongs`);
    expect(errorMs).toBeLessThanOrEqual(FRAME_MS);
    expect(errorMs).toBeGreaterThanOrEqual(-FRAME_MS);
    // Every ping answered with its own event_id (the last may still be in flight as the call ended).
    expect(s.badPongs).toEqual([]);
    expect(s.pongs.length).toBeGreaterThanOrEqual(s.pingsSent.length - 1);

    // Transcripts of both sides (the correction after the cut too) on the call's record; the odd events counted, not fatal.
    const v = await view(placed.telephonySessionId);
    expect(v.transcript.map((l) => `${l.role}: ${l.text}`)).toEqual(["agent: Hello, thanks for calling. How can I help?", "agent: Hello, thanks for calling...", "caller: caller turn 1"]);
    expect(v.stream!.badMessages).toBeGreaterThanOrEqual(2);
    expect(v.endReason).toBe("remote-hangup");
  });

  it("client tools: send_dtmf presses keys after the greeting, bad parameters come back as is_error, hang_up ends the call", async () => {
    const before = standin.sessions.length;
    const placed = await stack.placeCall({ from: "+15550009201", play: "silence" });
    const s: ElevenLabsStandinSession = await until(() => standin.sessions[before]?.greetingSent && standin.sessions[before], "the greeting");
    await until(async () => (await stack.twinState(placed.callId)) === "answered", "answer");
    const bad = s.callTool("send_dtmf", { digits: "12x" });
    const dtmf = s.callTool("send_dtmf", { digits: "12#" });
    const resultOf = (toolCallId: string) => until(() => s.toolResults.find((r) => r.tool_call_id === toolCallId), `the result of ${toolCallId}`, 15_000);
    expect(await resultOf(bad)).toMatchObject({ is_error: true, result: expect.stringMatching(/digits/) });
    expect(await resultOf(dtmf)).toMatchObject({ is_error: false, result: "done" });
    expect(await twinHeardDigits(stack, placed.callId, 3)).toBe("12#");
    s.callTool("hang_up", {});
    await expectAgentHangup(stack, placed.callId, () => view(placed.telephonySessionId));
    // The tools ran after the greeting had played: the caller heard all of it.
    const rec = await stack.recording(placed.callId);
    const span = toneSpan(rec.samples, rec.rate, GREETING_HZ, -40)!;
    expect(span.endMs - span.startMs).toBeGreaterThan(GREETING_MS - 200);
    await until(() => s.closed, "the conversation socket to close");
  });

  it("client tools: transfer hands the call to the target (blind)", async () => {
    const before = standin.sessions.length;
    const placed = await stack.placeCall({ from: "+15550009202", play: "silence" });
    const s: ElevenLabsStandinSession = await until(() => standin.sessions[before]?.greetingSent && standin.sessions[before], "the greeting");
    await until(async () => (await stack.twinState(placed.callId)) === "answered", "answer");
    s.callTool("transfer", { number: "16508880041", mode: "blind" });
    await expectBlindTransfer(stack, placed.callId, "16508880041", () => view(placed.telephonySessionId));
  });

  it("a dropped conversation ends the call, even with PIPELINE_DROP_ACTION=reconnect: a new socket would be a new conversation", async () => {
    const before = standin.sessions.length;
    const placed = await stack.placeCall({ from: "+15550009203", play: "silence" });
    const s: ElevenLabsStandinSession = await until(() => standin.sessions[before]?.greetingSent && standin.sessions[before], "the greeting");
    await until(async () => (await stack.twinState(placed.callId)) === "answered", "answer");
    s.drop();
    await until(async () => (await stack.twinState(placed.callId)) === "ended", "the hang-up", 15_000);
    const v = await view(placed.telephonySessionId);
    expect(v.endReason).toBe("pipeline-closed");
    expect(v.stream!.reconnects).toBe(0);
    expect(standin.sessions.length).toBe(before + 1);
    const id = hostCall(placed.telephonySessionId)!.id;
    expect(captured.lines.some((l) => l.call === id && /cannot be picked up on a new connection/.test(l.msg))).toBe(true);
  });

  it("per call: POST /calls sets the agent's first message and dynamic variables; a setting not per call is a 400", async () => {
    const api = (body: unknown) => fetch(`${stack.httpUrl}/calls`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${API_TOKEN}` }, body: JSON.stringify(body) });
    const refused = await api({ to: "16507779002", pipelineSettings: { ELEVENLABS_API_KEY: "xi-other-0000000000" } });
    expect(refused.status).toBe(400);
    expect((await refused.json()).message).toMatch(/ELEVENLABS_API_KEY cannot be set per call/);
    await fetch(`${stack.twin.controlUrl}/callees/16507779002`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ play: "silence" }) });
    const before = standin.sessions.length;
    const res = await api({ to: "16507779002", customParameters: { appointment: "Tuesday 3pm" }, pipelineSettings: { ELEVENLABS_TOOLS: "send_dtmf", ELEVENLABS_FIRST_MESSAGE: "Hi, this is Acme calling about your appointment." } });
    expect(res.status).toBe(201);
    const call = (await res.json()) as { id: string };
    const s: ElevenLabsStandinSession = await until(() => standin.sessions[before]?.greetingSent && standin.sessions[before], "the greeting");
    expect(s.initiation).toMatchObject({
      dynamic_variables: { appointment: "Tuesday 3pm", called_number: "16507779002", direction: "outbound", call_id: call.id },
      conversation_config_override: { agent: { first_message: "Hi, this is Acme calling about your appointment." } },
    });
    const hangUp = s.callTool("hang_up", {});
    expect(await until(() => s.toolResults.find((r) => r.tool_call_id === hangUp), "the refusal", 15_000)).toMatchObject({ is_error: true, result: "the tool hang_up is not available on this call" });
    expect((await stack.host.viewCall(call.id))?.state).toBe("answered");
    await stack.host.hangup(call.id);
    await until(() => s.closed, "the conversation socket to close");
  });

  it("the key never reached the page or the log", () => {
    const all = toPage.join("\n");
    expect(all).toMatch(/"type":"answer"/);
    expect(all).not.toContain(KEY);
    expect(captured.raw.length).toBeGreaterThan(20);
    expect(captured.raw.join("\n")).not.toContain(KEY);
    expect(captured.raw.join("\n")).not.toContain("conversation_signature=sig_");
  });
});

describe("elevenlabs with a refused key", () => {
  let standin: Standin;
  let stack: Stack;
  const captured = capturedLog();
  beforeAll(async () => {
    standin = await startElevenLabsStandin({ agentId: AGENT, apiKey: KEY });
    stack = await startStack({ PIPELINE_PROTOCOL: "elevenlabs", ELEVENLABS_AGENT_ID: AGENT, ELEVENLABS_API_KEY: "xi-wrong-key-0000000000000000", ELEVENLABS_URL: standin.url, PIPELINE_DOWN_ACTION: "message" }, {}, { log: captured.log });
  });
  afterAll(async () => {
    await stack?.stop();
    await standin?.close();
  });

  it("applies the failure policy: the apology, then the hang-up; the log says what to fix", async () => {
    const placed = await stack.placeCall({ from: "+15550009204", play: "silence" });
    await until(async () => (await stack.twinState(placed.callId)) === "ended", "the apology and hang-up", 20_000);
    expect(standin.refused).toEqual([expect.stringMatching(/^signed-url /)]);
    expect(standin.sessions.length).toBe(0);
    const twinCall = await stack.twinCall(placed.callId);
    expect(twinCall.endReason).toBe("agent-hangup");
    expect(twinCall.heard!.levelDbfs!).toBeGreaterThan(-40);
    expect(stack.host.calls.byTelephonySession(placed.telephonySessionId)?.endReason).toBe("pipeline-unreachable");
    expect(captured.lines.some((l) => l.err === "ElevenLabs refused the API key (HTTP 401): check ELEVENLABS_API_KEY")).toBe(true);
    expect(captured.raw.join("\n")).not.toContain("xi-wrong-key");
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmsDbfs } from "../twin/caller/analysis.ts";
import { startStack, until, type Stack } from "./support/stack.ts";
import { speakTone, startTestPipeline } from "./support/twilio-pipeline.ts";

const API_TOKEN = "api-token-0123456789abcdef0123";

describe("REST API", () => {
  let stack: Stack;
  let pipeline: Awaited<ReturnType<typeof startTestPipeline>>;
  const api = (path: string, init: RequestInit & { token?: string | null } = {}) =>
    fetch(`${stack.httpUrl}${path}`, {
      ...init,
      headers: {
        "content-type": "application/json",
        ...(init.token !== null && { authorization: `Bearer ${init.token ?? API_TOKEN}` }),
        ...(init.headers as Record<string, string>),
      },
    });
  const post = (path: string, body?: unknown) => api(path, { method: "POST", body: body === undefined ? undefined : JSON.stringify(body) });

  beforeAll(async () => {
    pipeline = await startTestPipeline(() => speakTone(880));
    stack = await startStack({ PIPELINE_URL: pipeline.url, API_TOKEN });
    for (const n of ["16507777001", "16507777002", "16507777003", "16508880000"]) {
      await fetch(`${stack.twin.controlUrl}/callees/${n}`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ play: "tone:440" }) });
    }
  });
  afterAll(async () => {
    await stack?.stop();
    await pipeline?.close();
  });

  it("needs the bearer token: 401 without, 403 when wrong; health, ready and the OpenAPI document need none", async () => {
    expect((await api("/calls", { token: null })).status).toBe(401);
    expect((await api("/calls", { token: "wrong-token-wrong-token-wrong-123" })).status).toBe(403);
    expect((await api("/calls")).status).toBe(200);
    expect((await fetch(`${stack.httpUrl}/health`)).status).toBe(200);
    expect(await (await fetch(`${stack.httpUrl}/ready`)).json()).toMatchObject({ ready: true, registered: true });
    const metrics = await (await fetch(`${stack.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^rcvh_sip_registered 1$/m);
    const doc = await (await fetch(`${stack.httpUrl}/openapi.json`)).json();
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/calls", "/calls/{id}/transfer", "/calls/{id}/dtmf"]));
    expect(doc.paths["/calls"].post.requestBody.content["application/json"].schema.properties.to).toBeDefined();
  });

  it("rejects malformed bodies naming the field, and unknown calls with 404", async () => {
    const r1 = await post("/calls", { to: "not a number" });
    expect(r1.status).toBe(400);
    expect((await r1.json()).fields).toEqual(["to"]);
    const r2 = await post("/calls", { to: "+16505550100", amd: { mode: "sometimes" } });
    expect((await r2.json()).fields).toEqual(["amd.mode"]);
    const r3 = await api("/calls", { method: "POST", body: "{oops" });
    expect(r3.status).toBe(400);
    expect((await post("/calls", { to: "+16505550100", extra: 1 })).status).toBe(400);
    expect((await api("/calls/nope")).status).toBe(404);
    expect((await post("/calls/nope/hangup")).status).toBe(404);
    const r4 = await post("/calls/nope/dtmf", { digits: "12x" });
    expect(r4.status).toBe(400);
  });

  it("places an outbound call that carries audio both ways, with per-call custom parameters", async () => {
    const res = await post("/calls", { to: "16507777001", customParameters: { campaign: "spring" } });
    expect(res.status).toBe(201);
    const call = await res.json();
    expect(call).toMatchObject({ direction: "outbound", to: "16507777001", state: "answered" });
    const stream = await until(() => pipeline.streams.find((s) => s.start?.customParameters.callId === call.id), "the stream");
    expect(stream.start!.customParameters.campaign).toBe("spring");
    await new Promise((r) => setTimeout(r, 2000));
    expect((await post(`/calls/${call.id}/hangup`)).status).toBe(200);
    await until(() => stream.stopped, "stop");
    const a = Float32Array.from(stream.audio.slice(8000));
    const { dominantHz } = await import("../twin/caller/analysis.ts");
    expect(Math.abs(dominantHz(a, 8000) - 440)).toBeLessThan(8.8);
    const twinCall = (await (await fetch(`${stack.twin.controlUrl}/calls`)).json()).records.find((c: { to: string }) => c.to === "16507777001");
    const heard = (await stack.twinCall(twinCall.id)).heard!;
    expect(Math.abs(heard.dominantHz! - 880)).toBeLessThan(17.6);
  });

  it("two calls placed at once each get their own call and stream", async () => {
    for (const n of ["16507777031", "16507777032"]) {
      await fetch(`${stack.twin.controlUrl}/callees/${n}`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ play: "tone:440" }) });
    }
    const [a, b] = await Promise.all([post("/calls", { to: "16507777031" }), post("/calls", { to: "16507777032" })]);
    const [ca, cb] = [await a.json(), await b.json()];
    expect([a.status, b.status]).toEqual([201, 201]);
    expect([ca.to, cb.to]).toEqual(["16507777031", "16507777032"]);
    expect(ca.telephonySessionId).not.toBe(cb.telephonySessionId);
    const [sa, sb] = await Promise.all([ca, cb].map((c) => until(() => pipeline.streams.find((s) => s.start?.customParameters.callId === c.id), "a stream")));
    expect(sa.start!.callSid).toBe(ca.telephonySessionId);
    expect(sb.start!.callSid).toBe(cb.telephonySessionId);
    await Promise.all([post(`/calls/${ca.id}/hangup`), post(`/calls/${cb.id}/hangup`)]);
  });

  it("hold, unhold, mute, unmute and RingCentral recording reach the call", async () => {
    const call = await (await post("/calls", { to: "16507777002" })).json();
    const twinCall = async () => {
      const rec = (await (await fetch(`${stack.twin.controlUrl}/calls`)).json()).records.find((c: { to: string; state: string }) => c.to === "16507777002" && c.state !== "ended");
      return (await (await fetch(`${stack.twin.controlUrl}/calls/${rec.id}`)).json()) as { id: string; trace: Array<{ line: string }>; infoCommands: string[]; recordingActive: boolean };
    };
    expect((await post(`/calls/${call.id}/hold`)).status).toBe(200);
    expect((await post(`/calls/${call.id}/unhold`)).status).toBe(200);
    const invites = (await twinCall()).trace.filter((t) => t.line.startsWith("INVITE"));
    expect(invites.length).toBeGreaterThanOrEqual(3); // the call, hold, unhold (re-INVITEs)
    expect((await post(`/calls/${call.id}/recording`, { action: "start" })).status).toBe(200);
    expect((await twinCall()).recordingActive).toBe(true);
    expect((await post(`/calls/${call.id}/recording`, { action: "stop" })).status).toBe(200);
    const t = await twinCall();
    expect(t.infoCommands).toEqual(["startcallrecord", "stopcallrecord"]);
    expect((await post(`/calls/${call.id}/mute`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await post(`/calls/${call.id}/unmute`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1000));
    await post(`/calls/${call.id}/hangup`);
    const rec = await stack.recording(t.id);
    // Muted: the callee heard silence for that second, then the pipeline's tone again.
    const level = (fromMs: number) => rmsDbfs(rec.samples, Math.floor((fromMs * rec.rate) / 1000), Math.floor(((fromMs + 400) * rec.rate) / 1000));
    const n = rec.samples.length / rec.rate * 1000;
    expect(level(n - 1700)).toBeLessThan(-50);
    expect(level(n - 600)).toBeGreaterThan(-30);
    expect((await post(`/calls/${call.id}/hold`)).status).toBe(409);
  });

  it("blind transfer: REFER, the twin releases the call, the pipeline gets stop", async () => {
    const call = await (await post("/calls", { to: "16507777003" })).json();
    const stream = await until(() => pipeline.streams.find((s) => s.start?.customParameters.callId === call.id), "the stream");
    const res = await post(`/calls/${call.id}/transfer`, { target: "16508880000", mode: "blind" });
    expect(res.status).toBe(200);
    await until(() => stream.stopped, "stop");
    const records = (await (await fetch(`${stack.twin.controlUrl}/calls`)).json()).records;
    const twinCall = await stack.twinCall(records.find((c: { to: string }) => c.to === "16507777003").id);
    expect(twinCall.endReason).toBe("transferred");
    const hostCall = await until(async () => ((await (await api(`/calls/${call.id}`)).json()) as { state: string; endReason: string; transferTarget: string }), "the host's view");
    await until(async () => (await (await api(`/calls/${call.id}`)).json()).state === "ended", "the call to end");
    expect((await (await api(`/calls/${call.id}`)).json())).toMatchObject({ endReason: "transferred-blind", transferTarget: "16508880000" });
    void hostCall;
  });
});

describe("warm transfer", () => {
  it("holds the caller, calls the target, then joins them: both device calls end on the twin", async () => {
    const pipeline = await startTestPipeline(() => speakTone(880));
    const stack = await startStack({ PIPELINE_URL: pipeline.url, API_TOKEN });
    try {
      for (const n of ["16507777010", "16508880010"]) {
        await fetch(`${stack.twin.controlUrl}/callees/${n}`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ play: "tone:440" }) });
      }
      const headers = { "content-type": "application/json", authorization: `Bearer ${API_TOKEN}` };
      const call = await (await fetch(`${stack.httpUrl}/calls`, { method: "POST", headers, body: JSON.stringify({ to: "16507777010" }) })).json();
      const stream = await until(() => pipeline.streams.find((s) => s.start?.customParameters.callId === call.id), "the stream");
      const res = await fetch(`${stack.httpUrl}/calls/${call.id}/transfer`, { method: "POST", headers, body: JSON.stringify({ target: "16508880010", mode: "warm" }) });
      expect(res.status).toBe(200);
      expect(stream.stopped).toBe(true);
      const records = (await (await fetch(`${stack.twin.controlUrl}/calls`)).json()).records as Array<{ id: string; to: string }>;
      const original = records.find((c) => c.to === "16507777010")!;
      const consult = records.find((c) => c.to === "16508880010")!;
      await until(async () => (await stack.twinState(original.id)) === "ended" && (await stack.twinState(consult.id)) === "ended", "both calls to be released");
      expect((await stack.twinCall(original.id)).endReason).toBe("transferred");
      expect((await stack.twinCall(consult.id)).endReason).toBe("transferred");
      // The caller was on hold (a re-INVITE) before the target was called.
      const trace = (await (await fetch(`${stack.twin.controlUrl}/calls/${original.id}`)).json()).trace as Array<{ line: string }>;
      expect(trace.filter((t) => t.line.startsWith("INVITE")).length).toBeGreaterThanOrEqual(3);
      await until(async () => (await (await fetch(`${stack.httpUrl}/calls/${call.id}`, { headers })).json()).state === "ended", "the host's call to end");
      expect(await (await fetch(`${stack.httpUrl}/calls/${call.id}`, { headers })).json()).toMatchObject({ endReason: "transferred-warm", transferTarget: "16508880010" });
    } finally {
      await stack.stop();
      await pipeline.close();
    }
  });
});

describe("a transfer that fails", () => {
  it("gives the call back to the pipeline (fresh start) and answers 502", async () => {
    const pipeline = await startTestPipeline(() => speakTone(880));
    const stack = await startStack({ PIPELINE_URL: pipeline.url, API_TOKEN });
    try {
      await fetch(`${stack.twin.controlUrl}/callees/16507777020`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ play: "tone:440" }) });
      await fetch(`${stack.twin.controlUrl}/callees/16508880020`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ play: "silence", busy: true }) });
      const headers = { "content-type": "application/json", authorization: `Bearer ${API_TOKEN}` };
      const call = await (await fetch(`${stack.httpUrl}/calls`, { method: "POST", headers, body: JSON.stringify({ to: "16507777020" }) })).json();
      await until(() => pipeline.streams.find((s) => s.start?.customParameters.callId === call.id), "the stream");
      const res = await fetch(`${stack.httpUrl}/calls/${call.id}/transfer`, { method: "POST", headers, body: JSON.stringify({ target: "16508880020", mode: "warm" }) });
      expect(res.status).toBe(502);
      expect((await res.json()).message).toMatch(/transfer to 16508880020 failed/);
      const streams = pipeline.streams.filter((s) => s.start?.customParameters.callId === call.id);
      expect(streams).toHaveLength(2);
      expect(streams[0].stopped).toBe(true);
      const view = await (await fetch(`${stack.httpUrl}/calls/${call.id}`, { headers })).json();
      expect(view).toMatchObject({ state: "answered", endReason: null });
      // The callee hears the pipeline again once the call is taken off hold.
      await new Promise((r) => setTimeout(r, 1500));
      await fetch(`${stack.httpUrl}/calls/${call.id}/hangup`, { method: "POST", headers });
      const records = (await (await fetch(`${stack.twin.controlUrl}/calls`)).json()).records as Array<{ id: string; to: string }>;
      const rec = await stack.recording(records.find((c) => c.to === "16507777020")!.id);
      const { toneSpan } = await import("../twin/caller/analysis.ts");
      const tail = rec.samples.subarray(rec.samples.length - rec.rate);
      expect(toneSpan(tail, rec.rate, 880, -30)?.presence ?? 0).toBeGreaterThan(0.9);
    } finally {
      await stack.stop();
      await pipeline.close();
    }
  });
});

/**
 * The host stays on the line through SIP faults (docs/ARCHITECTURE.md, "SIP recovery"): real
 * Chrome and WebPhone against the twin's fault controls. Each test measures the recovery it
 * needs and logs the figures; the assertions are on states, never on how fast this machine is.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { dominantHz } from "../twin/caller/analysis.ts";
import { startStack, until, type Stack } from "./support/stack.ts";
import { startTestPipeline } from "./support/twilio-pipeline.ts";

describe("SIP recovery", () => {
  let pipeline: Awaited<ReturnType<typeof startTestPipeline>>;
  let stack: Stack;
  const figures: Record<string, Record<string, number>> = {};

  beforeAll(async () => {
    pipeline = await startTestPipeline();
    // A short registration so re-REGISTERs come every few seconds (RingCentral grants ~47 s).
    stack = await startStack({ PIPELINE_URL: pipeline.url }, { registerExpiresS: 8 });
  });
  afterEach(async () => {
    await control("/faults", "DELETE");
    stack.twin.board.dialogs.graceMs = 30_000;
  });
  afterAll(async () => {
    console.log("sip recovery figures (ms):", JSON.stringify(figures));
    await stack?.stop();
    await pipeline?.close();
  });

  async function control(path: string, method = "POST", body?: unknown): Promise<any> {
    const res = await fetch(`${stack.twin.controlUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return res.json();
  }
  const ready = async () => (await fetch(`${stack.httpUrl}/ready`)).status === 200;
  type Sip = { reconnecting: boolean; proxy: string; lastError: string | null; nextAttemptAtMs: number | null; lostAtMs: number | null; recoveredAtMs: number | null };
  const readyBody = async () => (await (await fetch(`${stack.httpUrl}/ready`)).json()) as { ready: boolean; sip: Sip };
  const metric = async (line: string) => {
    const text = await (await fetch(`${stack.httpUrl}/metrics`)).text();
    const found = text.split("\n").find((l) => l.startsWith(line + " "));
    return found ? Number(found.split(" ").pop()) : 0;
  };
  const ourConnections = async () => ((await control("/sip/connections", "GET")).records as Array<{ id: number; proxy: string; instanceIds: string[] }>).filter((c) => c.instanceIds.length);

  /**
   * Fault at t0 → registration lost (/ready false) → registered again → a new call answered, in
   * ms from t0. The host's own record of the outage (in /ready) gives the times: an outage can be
   * over before a poll would see it.
   */
  async function recovery(name: string, inject: () => Promise<unknown>) {
    expect(await ready()).toBe(true);
    const t0 = Date.now();
    await inject();
    // A re-REGISTER comes every 5 s here and the WebPhone waits 5 s for its answer.
    const lost = await until(async () => {
      const b = await readyBody();
      return b.sip.lostAtMs && b.sip.lostAtMs >= t0 ? b : undefined;
    }, "the registration to be reported lost", 15_000);
    if (lost.sip.reconnecting) {
      expect(lost.ready).toBe(false);
      // The gauge, read while the same outage is still on (the outage may end between two reads).
      const gauge = await metric("rcvh_sip_registered");
      const still = await readyBody();
      if (still.sip.reconnecting && still.sip.lostAtMs === lost.sip.lostAtMs) expect(gauge).toBe(0);
    }
    const back = await until(async () => {
      const b = await readyBody();
      return b.ready && b.sip.recoveredAtMs && b.sip.recoveredAtMs >= b.sip.lostAtMs! ? b : undefined;
    }, "the host to register again", 40_000);
    const notReadyMs = back.sip.lostAtMs! - t0;
    const registeredMs = back.sip.recoveredAtMs! - t0;
    expect(await metric("rcvh_sip_registered")).toBe(1);
    const placed = await stack.placeCall({ from: "+16505551001", play: "tone:440", hangupAfterMs: 1500 });
    await until(async () => (await stack.twinCall(placed.callId)).answeredAtMs, "the next call to be answered");
    const answeredMs = Date.now() - t0;
    await until(async () => (await stack.twinState(placed.callId)) === "ended", "that call to end");
    figures[name] = { notReadyMs, registeredMs, answeredMs };
    return figures[name];
  }

  it("a dropped SIP socket, with new ones refused for 3 s: /ready false, then registered again by itself", async () => {
    const lostBefore = await metric("rcvh_sip_lost_total");
    await recovery("drop+refuse3s", async () => {
      await control("/faults/sip/refuse-connections", "POST", { forMs: 3000, mode: "reset" });
      await control("/faults/sip/drop", "POST", { all: true, mode: "terminate" });
    });
    expect(await metric("rcvh_sip_lost_total")).toBe(lostBefore + 1);
    expect(await metric('rcvh_sip_reconnects_total{result="ok"}')).toBeGreaterThanOrEqual(1);
    // One registered socket (on whichever proxy answered first), nothing left of the old one.
    expect(await ourConnections()).toHaveLength(1);
  });

  it("a registrar that stops answering REGISTER: the WebPhone gives up on the socket, the host reconnects", async () => {
    await recovery("register-unanswered", () => control("/faults/sip/ignore-register", "POST", { count: 1 }));
  });

  it("a refused re-REGISTER (503) reports the line down and heals", async () => {
    await recovery("reregister-503", () => control("/faults/sip/reject-register", "POST", { status: 503, count: 1, onlyAuthorized: true }));
  });

  it("the primary proxy refusing for long: the host moves to sipInfo's backup proxy", async () => {
    await recovery("primary-down", async () => {
      await control("/faults/sip/refuse-connections", "POST", { forMs: 120_000, mode: "503", proxy: "primary" });
      await control("/faults/sip/drop", "POST", { all: true, mode: "close", code: 1001 });
    });
    expect(await ourConnections()).toEqual([expect.objectContaining({ proxy: "backup" })]);
    expect((await readyBody()).sip.proxy).toBe("backup");
  });

  it("credentials refused (403) on reconnect: a fresh sipInfo from RingCentral, then registered", async () => {
    const before = await metric('rcvh_sip_reconnects_total{result="credentials"}');
    await recovery("credentials-403", async () => {
      await control("/faults/sip/reject-register", "POST", { status: 403, count: 1, onlyAuthorized: true });
      await control("/faults/sip/drop", "POST", { all: true, mode: "terminate" });
    });
    expect(await metric('rcvh_sip_reconnects_total{result="credentials"}')).toBe(before + 1);
  });

  it("a call up when the socket drops is kept: re-INVITEd onto the new socket, audio carries on, it ends normally", async () => {
    const placed = await stack.placeCall({ from: "+16505551002", play: "tone:440" });
    await until(async () => (await stack.twinState(placed.callId)) === "answered", "the call to be answered");
    const stream = await until(() => pipeline.streams.find((s) => s.start?.callSid === placed.telephonySessionId), "its pipeline stream");
    await until(() => stream.audio.length > 8000, "a second of the caller");
    await control("/faults/sip/drop", "POST", { all: true, mode: "terminate" });
    await until(async () => (await stack.twinCall(placed.callId)).sip?.rebinds === 1, "the dialog to move to the new socket");
    const heardAt = stream.audio.length;
    await until(() => stream.audio.length > heardAt + 8000, "a second of the caller after the re-INVITE");
    expect(Math.abs(dominantHz(Float32Array.from(stream.audio.slice(heardAt)), 8000) - 440)).toBeLessThan(10);
    expect(stack.host.calls.active()).toHaveLength(1);
    await stack.hangupFromCaller(placed.callId);
    await until(() => stream.stopped, "the pipeline's stop");
    const call = await until(() => stack.host.calls.list().find((c) => c.telephonySessionId === placed.telephonySessionId && c.state === "ended"), "the host's call to end");
    expect(call.endReason).toBe("remote-hangup");
    await until(async () => (await stack.host.pageSessionCount()) === 0, "no call session left in the page");
  });

  it("a call whose dialog RingCentral gave up on while SIP was down ends sip-lost; its pipeline gets stop", async () => {
    stack.twin.board.dialogs.graceMs = 500;
    const placed = await stack.placeCall({ from: "+16505551003", play: "tone:440" });
    await until(async () => (await stack.twinState(placed.callId)) === "answered", "the call to be answered");
    const stream = await until(() => pipeline.streams.find((s) => s.start?.callSid === placed.telephonySessionId), "its pipeline stream");
    await control("/faults/sip/refuse-connections", "POST", { forMs: 2000, mode: "reset" });
    await control("/faults/sip/drop", "POST", { all: true, mode: "terminate" });
    await until(async () => (await stack.twinState(placed.callId)) === "ended", "the twin to give up on the dialog");
    await until(ready, "registered again", 20_000);
    const call = await until(() => stack.host.calls.list().find((c) => c.telephonySessionId === placed.telephonySessionId && c.state === "ended"), "the host's call to end");
    expect(call.endReason).toBe("sip-lost");
    await until(() => stream.stopped, "the pipeline's stop");
    expect(await metric('rcvh_calls_ended_total{direction="inbound",reason="sip-lost"}')).toBe(1);
    await until(async () => (await stack.host.pageSessionCount()) === 0, "no call session left in the page");
  });

  it("SIP down past the calls' grace (25 s): the host hangs up its calls sip-lost, the page ends them without a socket, and it registers once SIP is back", async () => {
    const placed = await stack.placeCall({ from: "+16505551005", play: "tone:440" });
    await until(async () => (await stack.twinState(placed.callId)) === "answered", "the call to be answered");
    const stream = await until(() => pipeline.streams.find((s) => s.start?.callSid === placed.telephonySessionId), "its pipeline stream");
    const t0 = Date.now();
    await control("/faults/sip/refuse-connections", "POST", { forMs: 120_000, mode: "reset" });
    await control("/faults/sip/drop", "POST", { all: true, mode: "terminate" });
    const call = await until(() => stack.host.calls.list().find((c) => c.telephonySessionId === placed.telephonySessionId && c.state === "ended"), "the host to give the call up", 40_000);
    const endedMs = Date.now() - t0;
    expect(call.endReason).toBe("sip-lost");
    await until(() => stream.stopped, "the pipeline's stop");
    await until(async () => (await stack.host.pageSessionCount()) === 0, "no call session left in the page");
    expect(await ready()).toBe(false);
    await control("/faults/sip/refuse-connections", "DELETE");
    const back = await until(async () => {
      const b = await readyBody();
      return b.ready ? b : undefined;
    }, "registered once SIP is back", 40_000);
    figures["calls-past-grace"] = { endedMs, registeredMs: back.sip.recoveredAtMs! - t0 };
  }, 120_000);

  it("a page whose main thread hangs: the heartbeat notices, its call ends page-lost, Chrome is relaunched and registers", async () => {
    const placed = await stack.placeCall({ from: "+16505551004", play: "tone:440" });
    await until(async () => (await stack.twinState(placed.callId)) === "answered", "the call to be answered");
    const stream = await until(() => pipeline.streams.find((s) => s.start?.callSid === placed.telephonySessionId), "its pipeline stream");
    const t0 = Date.now();
    // Never returns: the renderer spins until Chrome is closed under it.
    void stack.host.chromePage()!.evaluate("for (;;) {}").catch(() => {});
    await until(async () => !(await ready()), "/ready to turn false");
    const notReadyMs = Date.now() - t0;
    await until(ready, "Chrome relaunched and registered", 40_000);
    const registeredMs = Date.now() - t0;
    const next = await stack.placeCall({ from: "+16505551001", play: "tone:440", hangupAfterMs: 1500 });
    await until(async () => (await stack.twinCall(next.callId)).answeredAtMs, "the next call to be answered");
    figures["page-hang"] = { notReadyMs, registeredMs, answeredMs: Date.now() - t0 };
    await until(() => stream.stopped, "the pipeline's stop");
    const call = stack.host.calls.list().find((c) => c.telephonySessionId === placed.telephonySessionId);
    expect(call?.endReason).toBe("page-lost");
  });

  it("a renderer that crashes while Chrome stays up: the call ends page-lost, the page comes back and registers", async () => {
    const placed = await stack.placeCall({ from: "+16505551006", play: "tone:440" });
    await until(async () => (await stack.twinState(placed.callId)) === "answered", "the call to be answered");
    const stream = await until(() => pipeline.streams.find((s) => s.start?.callSid === placed.telephonySessionId), "its pipeline stream");
    const chromePid = stack.host.browserProcess()?.pid;
    const t0 = Date.now();
    void stack.host.chromePage()!.goto("chrome://crash").catch(() => {});
    await until(async () => !(await ready()), "/ready to turn false");
    const notReadyMs = Date.now() - t0;
    await until(ready, "the page back and registered", 40_000);
    figures["renderer-crash"] = { notReadyMs, registeredMs: Date.now() - t0 };
    await until(() => stream.stopped, "the pipeline's stop");
    expect(stack.host.calls.list().find((c) => c.telephonySessionId === placed.telephonySessionId)?.endReason).toBe("page-lost");
    expect(chromePid).toEqual(expect.any(Number));
    const next = await stack.placeCall({ from: "+16505551001", play: "tone:440", hangupAfterMs: 1500 });
    await until(async () => (await stack.twinCall(next.callId)).answeredAtMs, "the next call to be answered");
  });

  it("the 5-instance limit (603): a clear error in /ready and the log, and a slow retry, not a loop", async () => {
    const before = await metric('rcvh_sip_reconnects_total{result="too-many-instances"}');
    await control("/faults/sip/reject-register", "POST", { status: 603, forMs: 600_000, onlyAuthorized: true });
    await control("/faults/sip/drop", "POST", { all: true, mode: "terminate" });
    const body = await until(async () => {
      const b = await readyBody();
      return b.sip.lastError?.includes("603") ? b : undefined;
    }, "the 603 in /ready");
    expect(body.sip.reconnecting).toBe(true);
    expect(body.sip.nextAttemptAtMs! - Date.now()).toBeGreaterThan(50_000);
    expect(await metric('rcvh_sip_reconnects_total{result="too-many-instances"}')).toBe(before + 1);
    expect(await ready()).toBe(false);
  });
});

describe("SIP at start-up", () => {
  // Start-up does not dial the pipeline.
  const env = { PIPELINE_URL: "ws://127.0.0.1:9/unused" };
  it("an outage delays start: new SIP sockets refused for 3 s, and start() resolves registered", async () => {
    const t0 = Date.now();
    const stack = await startStack(env, {}, { beforeHost: (twin) => twin.faults.sip.refuseConnections({ forMs: 3000, mode: "503" }) });
    try {
      expect(stack.host.status().registered).toBe(true);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
      expect((await fetch(`${stack.httpUrl}/ready`)).status).toBe(200);
    } finally {
      await stack.stop();
    }
  });

  it("credentials refused even fresh from sip-provision: start-up fails with one line naming what to check", async () => {
    await expect(
      startStack(env, {}, { beforeHost: (twin) => twin.faults.sip.rejectRegister({ status: 403, forMs: 120_000, onlyAuthorized: true }) }),
    ).rejects.toThrow(/refuses the SIP credentials it just provisioned .*403 Forbidden.*VoIP Calling permission/);
  });
});

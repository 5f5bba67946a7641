/**
 * The twin's acceptance: real headless Chrome running the unmodified `ringcentral-web-phone`,
 * the unmodified `@ringcentral/sdk` in Node, real WebRTC media both ways; offline, loopback only.
 * Every media check measures audio: what the page hears (Web Audio analyser) and what the
 * twin's caller heard (its recording, analysed in Node).
 */
import { randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SDK } from "@ringcentral/sdk";
import pino from "pino";
import type { Browser, Page } from "puppeteer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import wavefile from "wavefile";
import { launchChrome } from "../host/chrome.ts";
import { dominantHz, rmsDbfs, toneSpan } from "../twin/caller/analysis.ts";
import { startTwin, type Twin } from "../twin/server.ts";
import type { PageCall } from "./pages/twin-phone.ts";
import { servePage } from "./support/page-server.ts";
import { rawSipClient } from "./support/raw-sip.ts";

const SESSIONS_FILTER = "/restapi/v1.0/account/~/extension/~/telephony/sessions";
const CALLER = "+16506666666";
/** What the page says (its oscillator) and what the twin's caller plays. */
const PAGE_HZ = 1000;
const CALLER_HZ = 440;

interface SipInfo {
  username: string;
  password: string;
  authorizationId: string;
  domain: string;
  outboundProxy: string;
  outboundProxyBackup: string;
  transport: string;
  stunServers: string[];
}

interface CallJson {
  id: string;
  direction: "inbound" | "outbound";
  state: "ringing" | "answered" | "ended";
  endReason: string | null;
  telephonySessionId: string;
  partyId: string;
  sipCallIds: string[];
  answeredAtMs: number | null;
  codec: string | null;
  heard: { frames: number } | null;
  trace: Array<{ atMs: number; dir: "in" | "out"; line: string }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Page actions that wait on the twin (decline waits for a CANCEL…) fail fast instead of hanging the file. */
function bounded<T>(what: string, p: Promise<T>, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const within = (value: number, target: number, fraction: number) => Math.abs(value - target) <= target * fraction;

describe("twin end to end: headless Chrome + unmodified WebPhone and SDK + real WebRTC", () => {
  let twin: Twin;
  let pageServer: Awaited<ReturnType<typeof servePage>>;
  let browser: Browser;
  let page: Page;
  let sdk: SDK;
  let sipInfo: SipInfo;
  let deviceId: string;
  const pageErrors: string[] = [];

  // ── helpers ───────────────────────────────────────────────────────────────────

  async function control<T = Record<string, unknown>>(path: string, init: { method?: string; body?: unknown; rawBody?: string } = {}): Promise<{ status: number; json: T; contentType: string | null }> {
    const res = await fetch(`${twin.controlUrl}${path}`, {
      method: init.method ?? "GET",
      headers: init.body !== undefined || init.rawBody !== undefined ? { "content-type": "application/json" } : {},
      body: init.rawBody ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
    });
    return { status: res.status, json: (await res.json()) as T, contentType: res.headers.get("content-type") };
  }

  const getCall = async (id: string) => (await control<CallJson>(`/calls/${id}`)).json;
  const pageCalls = () => page.evaluate(() => window.phone.calls) as Promise<PageCall[]>;
  const pageCall = async (callId: string) => (await pageCalls()).find((c) => c.callId === callId);

  async function placeInbound(body: Record<string, unknown>): Promise<{ callId: string; telephonySessionId: string; partyId: string; state: string }> {
    const res = await control<{ callId: string; telephonySessionId: string; partyId: string; state: string }>("/calls", { method: "POST", body: { from: CALLER, play: `tone:${CALLER_HZ}`, ...body } });
    expect(res.status).toBe(201);
    return res.json;
  }

  /** Until the twin's call is answered and the caller has heard at least `frames` packets from the page. */
  async function waitForMedia(id: string, frames = 60): Promise<CallJson> {
    return waitFor(`media on ${id}`, async () => {
      const c = await getCall(id);
      if (c.state === "ended") throw new Error(`${id} ended early: ${c.endReason}`);
      return c.state === "answered" && (c.heard?.frames ?? 0) >= frames ? c : undefined;
    });
  }

  /** What the caller heard so far, from GET /twin/calls/:id/recording.wav. */
  async function callerHeard(id: string) {
    const res = await fetch(`${twin.controlUrl}/calls/${id}/recording.wav`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/audio\/wav/);
    const wav = new wavefile.WaveFile(new Uint8Array(await res.arrayBuffer()));
    const rate = (wav.fmt as { sampleRate: number }).sampleRate;
    wav.toBitDepth("32f");
    const samples = wav.getSamples(false, Float32Array) as unknown as Float32Array;
    const span = toneSpan(samples, rate, PAGE_HZ);
    if (!span) return { rate, durationMs: (samples.length * 1000) / rate, hz: NaN, db: -Infinity, span: undefined };
    const from = Math.round((span.startMs * rate) / 1000);
    const to = Math.round((span.endMs * rate) / 1000);
    return { rate, durationMs: (samples.length * 1000) / rate, hz: dominantHz(samples, rate, from, to), db: rmsDbfs(samples, from, to), span };
  }

  /** Both directions, measured: the page hears the caller's 440 Hz, the caller's recording holds the page's 1 kHz without dropouts. */
  async function expectTwoWayMedia(id: string, label: string) {
    await waitForMedia(id);
    const heard = await page.evaluate(() => window.phone.measure(1000, 100));
    const rec = await callerHeard(id);
    console.log(
      `[${label}] page hears ${heard.hz.toFixed(1)} Hz at ${heard.db.toFixed(1)} dBFS; caller heard ${rec.hz.toFixed(1)} Hz at ${rec.db.toFixed(1)} dBFS ` +
        `over ${Math.round(rec.durationMs)} ms @${rec.rate} Hz, longest gap ${rec.span?.longestGapMs} ms, presence ${rec.span?.presence.toFixed(3)}`,
    );
    expect(within(heard.hz, CALLER_HZ, 0.02), `page hears ${heard.hz} Hz`).toBe(true);
    // The caller plays -12 dBFS peak, i.e. -15 dBFS RMS.
    expect(heard.db).toBeGreaterThan(-25);
    expect(heard.db).toBeLessThan(-8);
    expect(within(rec.hz, PAGE_HZ, 0.02), `caller hears ${rec.hz} Hz`).toBe(true);
    expect(rec.db).toBeGreaterThan(-30);
    expect(rec.span!.longestGapMs).toBeLessThanOrEqual(60);
    expect(rec.span!.presence).toBeGreaterThan(0.97);
    expect(rec.span!.endMs - rec.span!.startMs).toBeGreaterThan(1000);
    return { heard, rec };
  }

  async function hangupFromTwin(id: string): Promise<void> {
    const res = await control<{ state: string }>(`/calls/${id}`, { method: "DELETE" });
    expect(res.status).toBe(200);
    expect(res.json.state).toBe("ended");
  }

  // ── setup: one twin, one browser, one registered page for the whole file ──────

  beforeAll(async () => {
    twin = await startTwin({ log: pino({ level: process.env.TWIN_TEST_LOG ?? "silent" }) });
    pageServer = await servePage(new URL("./pages/twin-phone.ts", import.meta.url).pathname);
    browser = await launchChrome({ headless: true, insecureTls: true });
    page = await browser.newPage();
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await page.goto(pageServer.url);

    // The sipInfo the page registers with comes from the twin's sip-provision, through the real SDK.
    sdk = new SDK({ server: twin.restUrl, clientId: twin.clientId, clientSecret: twin.clientSecret, cachePrefix: "twin-e2e-" });
    await sdk.platform().login({ jwt: twin.jwt });
    const provision = await (await sdk.platform().post("/restapi/v1.0/client-info/sip-provision", { sipInfo: [{ transport: "WSS" }] })).json();
    sipInfo = provision.sipInfo[0];
    deviceId = provision.device.id;
    await page.evaluate((s) => window.phone.start(s as never, { hz: 1000 }), sipInfo as unknown as Record<string, unknown>);
  });

  afterAll(async () => {
    if (pageErrors.length) console.log("page errors:", pageErrors);
    // Unregisters (REGISTER expires=0); bounded, since the WebPhone's dispose() waits on the server.
    await Promise.race([page?.evaluate(() => window.phone.dispose()).catch(() => {}), sleep(3000)]);
    await browser?.close();
    await twin?.stop();
    await pageServer?.close();
  });

  // ── cases ─────────────────────────────────────────────────────────────────────

  it("registers the page: GET /twin/registrations shows its instance id and expiry", async () => {
    const { status, json } = await control<{ records: Array<{ instanceId: string; authorizationId: string; contact: string; userAgent: string; registeredAtMs: number; expiresAtMs: number }> }>("/registrations");
    expect(status).toBe(200);
    expect(json.records).toHaveLength(1);
    const reg = json.records[0];
    // The WebPhone's instance id defaults to the authorizationId sip-provision handed out.
    expect(reg.instanceId).toBe(sipInfo.authorizationId);
    expect(reg.authorizationId).toBe(sipInfo.authorizationId);
    expect(reg.contact).toContain(`+sip.instance="<urn:uuid:${sipInfo.authorizationId}>"`);
    expect(reg.userAgent).toBe("ringcentral-web-phone-2");
    const leftS = (reg.expiresAtMs - Date.now()) / 1000;
    expect(leftS).toBeGreaterThan(0);
    expect(leftS).toBeLessThanOrEqual(60);
  });

  for (const codec of ["opus", "PCMU"] as const) {
    it(`inbound call (${codec}): the page answers, 440 Hz reaches the page and 1 kHz reaches the caller`, async () => {
      const placed = await placeInbound({ codecs: [codec] });
      const call = await waitForMedia(placed.callId);
      expect(call.codec).toBe(codec);
      const mine = await waitFor("page session", () => pageCall(call.sipCallIds[0]));
      expect(mine.sessionId).toBe(placed.telephonySessionId);
      expect(mine.partyId).toBe(placed.partyId);
      const { rec } = await expectTwoWayMedia(placed.callId, `inbound ${codec}`);
      expect(rec.rate).toBe(codec === "opus" ? 48000 : 8000);
      await hangupFromTwin(placed.callId);
    });
  }

  it("caller hangs up (DELETE /twin/calls/:id): the page's session is disposed", async () => {
    const placed = await placeInbound({});
    const call = await waitForMedia(placed.callId, 10);
    const disposedBefore = (await page.evaluate(() => window.phone.events)).filter((e) => e === "disposed:inbound").length;
    await hangupFromTwin(placed.callId);
    const mine = await waitFor("page session disposed", async () => {
      const c = await pageCall(call.sipCallIds[0]);
      return c?.state === "disposed" ? c : undefined;
    });
    expect(mine.disposedAtMs).toBeGreaterThan(mine.answeredAtMs!);
    const events = await page.evaluate(() => window.phone.events);
    expect(events.filter((e) => e === "disposed:inbound").length).toBe(disposedBefore + 1);
    const ended = await getCall(placed.callId);
    expect(ended).toMatchObject({ state: "ended", endReason: "caller-hangup" });
    expect(ended.trace.map((t) => `${t.dir} ${t.line}`)).toContain("in SIP/2.0 200 OK");
    expect(ended.trace.some((t) => t.dir === "out" && t.line.startsWith("BYE "))).toBe(true);
  });

  it("page hangs up: the twin's call ends with agent-hangup", async () => {
    const placed = await placeInbound({});
    const call = await waitForMedia(placed.callId, 10);
    await bounded("page hangup", page.evaluate(() => window.phone.hangup()));
    const ended = await waitFor("twin call ended", async () => {
      const c = await getCall(placed.callId);
      return c.state === "ended" ? c : undefined;
    });
    expect(ended.endReason).toBe("agent-hangup");
    expect(ended.trace.some((t) => t.dir === "in" && t.line.startsWith("BYE "))).toBe(true);
    expect((await waitFor("page session disposed", async () => ((await pageCall(call.sipCallIds[0]))?.state === "disposed" ? true : undefined)))).toBe(true);
  });

  it("outbound call from the page: 407 → 183 → 200 → ACK, media both ways", async () => {
    const number = "16507777777";
    const put = await control(`/callees/${number}`, { method: "PUT", body: { play: `tone:${CALLER_HZ}` } });
    expect(put.status).toBe(200);
    const result = await bounded("page call", page.evaluate((n) => window.phone.call(n), number));
    expect(result.state).toBe("answered");
    const list = (await control<{ records: Array<{ id: string; direction: string; to: string; state: string }> }>("/calls")).json.records;
    const rec = list.filter((c) => c.direction === "outbound" && c.to === number).pop()!;
    const call = await getCall(rec.id);
    expect(result.sessionId).toBe(call.telephonySessionId);
    expect(result.partyId).toBe(call.partyId);
    expect(result.callId).toBe(call.sipCallIds[0]);
    await expectTwoWayMedia(rec.id, "outbound");

    const lines = (await getCall(rec.id)).trace.map((t) => `${t.dir} ${t.line}`);
    const order = [/^out SIP\/2\.0 407 /, /^in INVITE /, /^out SIP\/2\.0 183 /, /^out SIP\/2\.0 200 OK$/, /^in ACK /];
    let at = -1;
    for (const re of order) {
      const next = lines.findIndex((l, i) => i > at && re.test(l));
      expect(next, `${re} after line ${at} in\n${lines.join("\n")}`).toBeGreaterThan(at);
      at = next;
    }
    expect(lines[0]).toMatch(/^in INVITE sip:16507777777@/);
    expect(lines.filter((l) => /^out SIP\/2\.0 1[89]\d /.test(l))).toHaveLength(1); // exactly one non-100 provisional

    await bounded("page hangup", page.evaluate(() => window.phone.hangup()));
    const ended = await waitFor("outbound ended", async () => ((await getCall(rec.id)).state === "ended" ? getCall(rec.id) : undefined));
    expect(ended.endReason).toBe("agent-hangup");
  });

  it("webhooks: a subscription made with the SDK gets Setup → Proceeding → Answered → Disconnected for a real call", async () => {
    const received: Array<{ headers: http.IncomingHttpHeaders; json: any }> = [];
    let validations = 0;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const token = req.headers["validation-token"];
        if (token) {
          validations++;
          res.setHeader("Validation-Token", token);
          return res.end();
        }
        received.push({ headers: req.headers, json: JSON.parse(Buffer.concat(chunks).toString("utf8")) });
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const address = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const verificationToken = randomBytes(12).toString("hex");
    let subscriptionId: string | undefined;
    try {
      const sub = await (
        await sdk.platform().post("/restapi/v1.0/subscription", {
          eventFilters: [SESSIONS_FILTER],
          deliveryMode: { transportType: "WebHook", address, verificationToken },
          expiresIn: 3600,
        })
      ).json();
      subscriptionId = sub.id;
      expect(sub.status).toBe("Active");
      expect(validations).toBe(1);

      const placed = await placeInbound({});
      const call = await waitForMedia(placed.callId, 10);
      const mine = await waitFor("page session", () => pageCall(call.sipCallIds[0]));
      await hangupFromTwin(placed.callId);
      const forCall = () => received.filter((r) => r.json.body?.telephonySessionId === placed.telephonySessionId);
      await waitFor("Disconnected delivery", () => forCall().some((r) => r.json.body.parties[0].status.code === "Disconnected"));
      await sleep(200); // nothing else should follow

      const deliveries = forCall();
      expect(deliveries.map((d) => d.json.body.parties[0].status.code)).toEqual(["Setup", "Proceeding", "Answered", "Disconnected"]);
      const seqs = deliveries.map((d) => d.json.body.sequence as number);
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]);
      for (const d of deliveries) {
        expect(d.headers["verification-token"]).toBe(verificationToken);
        expect(d.headers["content-type"]).toMatch(/^application\/json/);
        expect(d.json.subscriptionId).toBe(subscriptionId);
        expect(d.json.event).toBe(`/restapi/v1.0/account/${twin.account.accountId}/extension/${twin.account.extensionId}/telephony/sessions`);
        expect(d.json.body.parties[0].id).toBe(placed.partyId);
        expect(d.json.body.parties[0].id).toBe(mine.partyId);
        expect(d.json.body.telephonySessionId).toBe(mine.sessionId);
      }
      console.log(`[webhooks] ${deliveries.map((d) => `${d.json.body.parties[0].status.code}#${d.json.body.sequence}`).join(" → ")}`);
    } finally {
      if (subscriptionId) await sdk.platform().delete(`/restapi/v1.0/subscription/${subscriptionId}`);
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("Call Control answer brings a call ringing elsewhere onto the page (Alert-Info: Auto Answer), with media", async () => {
    const before = (await pageCalls()).length;
    const placed = await placeInbound({ ring: "elsewhere", codecs: ["opus"] });
    expect(placed.state).toBe("ringing");
    await sleep(300);
    expect((await pageCalls()).length).toBe(before); // nothing reached the page
    expect((await getCall(placed.callId)).sipCallIds).toHaveLength(0);

    const res = await sdk
      .platform()
      .post(`/restapi/v1.0/account/~/telephony/sessions/${placed.telephonySessionId}/parties/${placed.partyId}/answer`, { deviceId });
    const party = await res.json();
    expect(party).toMatchObject({ id: placed.partyId, direction: "Inbound", status: { code: "Answered" } });

    const call = await waitForMedia(placed.callId);
    expect(call.sipCallIds).toHaveLength(1);
    const mine = await waitFor("auto-answered page session", async () => {
      const c = await pageCall(call.sipCallIds[0]);
      return c?.state === "answered" ? c : undefined;
    });
    expect(mine.alertInfo).toBe("Auto Answer");
    expect(mine.sessionId).toBe(placed.telephonySessionId);
    await expectTwoWayMedia(placed.callId, "call-control elsewhere");
    await hangupFromTwin(placed.callId);
  });

  it("Call Control answer on a call ringing on the page: CANCEL, then a new auto-answer INVITE; one answered session", async () => {
    await page.evaluate(() => window.phone.setAnswerMode("manual"));
    try {
      const placed = await placeInbound({});
      const first = await waitFor("first INVITE ringing on the page", async () => {
        const c = await getCall(placed.callId);
        return c.trace.some((t) => t.line === "SIP/2.0 180 Ringing") && (await pageCall(c.sipCallIds[0]))?.state === "ringing" ? c : undefined;
      });
      await sdk
        .platform()
        .post(`/restapi/v1.0/account/~/telephony/sessions/${placed.telephonySessionId}/parties/${placed.partyId}/answer`, { deviceId });
      const call = await waitForMedia(placed.callId, 10);
      expect(call.sipCallIds).toHaveLength(2);
      expect(call.sipCallIds[0]).toBe(first.sipCallIds[0]);

      // On the wire: INVITE(1) … CANCEL(1) → 200, then INVITE(2) with Alert-Info, answered.
      const trace = twin.board.calls.get(placed.callId)!.trace;
      const callIdOf = (raw: string) => raw.match(/^Call-ID: (.+)$/im)?.[1];
      const cancel = trace.findIndex((t) => t.dir === "out" && t.line.startsWith("CANCEL "));
      const secondInvite = trace.findIndex((t, i) => i > cancel && t.dir === "out" && t.line.startsWith("INVITE "));
      expect(cancel).toBeGreaterThan(0);
      expect(callIdOf(trace[cancel].raw)).toBe(call.sipCallIds[0]);
      expect(trace.some((t, i) => i > cancel && t.dir === "in" && t.line === "SIP/2.0 200 OK" && /CSeq: \d+ CANCEL/i.test(t.raw))).toBe(true);
      expect(secondInvite).toBeGreaterThan(cancel);
      expect(callIdOf(trace[secondInvite].raw)).toBe(call.sipCallIds[1]);
      expect(trace[secondInvite].raw).toMatch(/^Alert-Info: Auto Answer$/m);
      expect(trace.filter((t) => t.dir === "out" && t.line.startsWith("INVITE "))).toHaveLength(2);

      const answered = await waitFor("second session answered", async () => ((await pageCall(call.sipCallIds[1]))?.state === "answered" ? true : undefined));
      expect(answered).toBe(true);
      expect((await pageCall(call.sipCallIds[0]))?.state).toBe("disposed");
      const live = await page.evaluate(() => window.phone.liveSessions());
      expect(live).toEqual([{ callId: call.sipCallIds[1], direction: "inbound", state: "answered" }]);
      // Media flows on the new leg.
      const heard = await page.evaluate(() => window.phone.measure(600, 100));
      expect(within(heard.hz, CALLER_HZ, 0.02), `page hears ${heard.hz} Hz`).toBe(true);
      await hangupFromTwin(placed.callId);
    } finally {
      await page.evaluate(() => window.phone.setAnswerMode("auto-all"));
    }
  });

  it("page declines a ringing call: the twin ends it as declined", async () => {
    await page.evaluate(() => window.phone.setAnswerMode("manual"));
    try {
      const placed = await placeInbound({});
      await waitFor("ringing on the page", async () => {
        const c = await getCall(placed.callId);
        return c.trace.some((t) => t.dir === "in" && t.line.startsWith("MESSAGE ")) && (await pageCall(c.sipCallIds[0]))?.state === "ringing";
      });
      // decline() resolves once the page has answered the twin's CANCEL.
      await bounded("page decline", page.evaluate(() => window.phone.decline()));
      const ended = await waitFor("twin call ended", async () => {
        const c = await getCall(placed.callId);
        return c.state === "ended" ? c : undefined;
      });
      expect(ended.endReason).toBe("declined");
      expect(ended.answeredAtMs).toBeFalsy();
      const session = await (await sdk.platform().get(`/restapi/v1.0/account/~/telephony/sessions/${placed.telephonySessionId}`)).json();
      expect(session.parties[0].status).toMatchObject({ code: "Disconnected", reason: "Rejected" });
    } finally {
      await page.evaluate(() => window.phone.setAnswerMode("auto-all"));
    }
  });

  it("bad input gets clear errors and the twin keeps serving", async () => {
    // SIP: a wrong digest is refused with 403.
    const wrong = await rawSipClient(twin.sipWssUrl);
    try {
      expect((await wrong.register(sipInfo, { password: "not-the-password", instanceId: randomUUID() })).startLine).toBe("SIP/2.0 403 Forbidden");
    } finally {
      wrong.close();
    }

    // SIP: more than 5 instance ids on the extension → 603 Too Many Contacts (the page is the first).
    const clients = await Promise.all([1, 2, 3, 4, 5].map(() => rawSipClient(twin.sipWssUrl)));
    try {
      const statuses: string[] = [];
      for (const c of clients) statuses.push((await c.register(sipInfo, { instanceId: randomUUID() })).startLine);
      expect(statuses).toEqual([...Array(4).fill("SIP/2.0 200 OK"), "SIP/2.0 603 Too Many Contacts"]);
      expect((await control<{ records: unknown[] }>("/registrations")).json.records).toHaveLength(5);
    } finally {
      for (const c of clients) c.close();
    }
    const regs = await waitFor("only the page registered", async () => {
      const r = (await control<{ records: Array<{ instanceId: string }> }>("/registrations")).json.records;
      return r.length === 1 ? r : undefined;
    });
    expect(regs[0].instanceId).toBe(sipInfo.authorizationId);

    // Control API: unknown call → 404 JSON; malformed JSON → 400 JSON; bad play spec → 400.
    for (const [method, path] of [["GET", "/calls/call-99999"], ["DELETE", "/calls/call-99999"], ["GET", "/calls/call-99999/recording.wav"], ["POST", "/calls/call-99999/dtmf"]] as const) {
      const res = await control<{ error: string; message: string }>(path, { method, body: method === "POST" ? { digits: "1", mode: "inband" } : undefined });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.contentType).toMatch(/application\/json/);
      expect(res.json).toMatchObject({ error: "not_found" });
    }
    const malformed = await control<{ error: string; message: string }>("/calls", { method: "POST", rawBody: '{"from": "+1650", play:' });
    expect(malformed.status).toBe(400);
    expect(malformed.contentType).toMatch(/application\/json/);
    expect(malformed.json).toEqual({ error: "invalid_request", message: "malformed JSON body" });
    const badPlay = await control<{ error: string; message: string }>("/calls", { method: "POST", body: { from: CALLER, play: "tone:loud" } });
    expect(badPlay.status).toBe(400);
    expect(badPlay.json.error).toBe("invalid_request");
    expect(badPlay.json.message).toMatch(/^play: /);
    const badCallee = await control<{ error: string }>("/callees/1650", { method: "PUT", body: { play: "wav:" } });
    expect(badCallee.status).toBe(400);
    const missingWav = await control<{ error: string; message: string }>("/calls", { method: "POST", body: { from: CALLER, play: "tone:440/500,wav:/nonexistent/caller.wav" } });
    expect(missingWav.status).toBe(400);
    expect(missingWav.json.message).toContain("cannot read /nonexistent/caller.wav: ENOENT");
    const noFrom = await control<{ error: string; message: string }>("/calls", { method: "POST", body: { play: "tone:440" } });
    expect(noFrom.status).toBe(400);
    expect(noFrom.json.message).toMatch(/^from: /);

    // And a normal call still works, media both ways.
    const placed = await placeInbound({});
    await expectTwoWayMedia(placed.callId, "after bad input");

    // DTMF from the caller on it: bad digits are refused, good ones go out and are logged with wall-clock times.
    const badDigits = await control<{ error: string; message: string }>(`/calls/${placed.callId}/dtmf`, { method: "POST", body: { digits: "12E", mode: "inband" } });
    expect(badDigits.status).toBe(400);
    expect(badDigits.json.message).toMatch(/^digits: /);
    const badMode = await control(`/calls/${placed.callId}/dtmf`, { method: "POST", body: { digits: "1", mode: "sip-info" } });
    expect(badMode.status).toBe(400);
    const t0 = Date.now();
    const inband = await control<{ queued: number; toneMs: number; gapMs: number }>(`/calls/${placed.callId}/dtmf`, { method: "POST", body: { digits: "19#", mode: "inband" } });
    expect(inband.status).toBe(202);
    expect(inband.json).toMatchObject({ queued: 3, toneMs: 70, gapMs: 70 });
    const events = await control(`/calls/${placed.callId}/dtmf`, { method: "POST", body: { digits: "*0", mode: "rfc4733", toneMs: 100, gapMs: 60 } });
    expect(events.status).toBe(202);
    const sent = await waitFor("digits sent", async () => {
      const c = (await control<{ dtmf: Array<{ digit: string; mode: string; startedAtMs: number | null; endedAtMs: number | null; toneMs: number }> }>(`/calls/${placed.callId}`)).json;
      return c.dtmf.length === 5 && c.dtmf.every((d) => d.endedAtMs !== null) ? c.dtmf : undefined;
    });
    expect(sent.map((d) => `${d.mode}:${d.digit}`)).toEqual(["inband:1", "inband:9", "inband:#", "rfc4733:*", "rfc4733:0"]);
    for (const d of sent) {
      // Times are the frames' due times on the caller's 20 ms clock: a late tick may be due just before the request.
      expect(d.startedAtMs!).toBeGreaterThanOrEqual(t0 - 25);
      // Each lasts its tone length, give or take the 20 ms frame it falls in.
      expect(Math.abs(d.endedAtMs! - d.startedAtMs! - d.toneMs)).toBeLessThanOrEqual(25);
    }
    const inbandSpan = sent[2].endedAtMs! - sent[0].startedAtMs!;
    expect(inbandSpan).toBeGreaterThanOrEqual(3 * 70 + 2 * 70 - 25);
    expect(sent[3].toneMs).toBe(100);
    console.log(`[dtmf] ${sent.map((d) => `${d.mode}:${d.digit} ${d.endedAtMs! - d.startedAtMs!} ms`).join(", ")}`);
    await hangupFromTwin(placed.callId);
    const afterEnd = await control(`/calls/${placed.callId}/dtmf`, { method: "POST", body: { digits: "1", mode: "inband" } });
    expect(afterEnd.status).toBe(409);
  });
});

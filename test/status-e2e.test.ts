import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "puppeteer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Call } from "../host/calls.ts";
import { launchChrome } from "../host/chrome.ts";
import { startStack, until, type Stack } from "./support/stack.ts";
import { startTestPipeline, type Behaviour } from "./support/twilio-pipeline.ts";

const API_TOKEN = "status-e2e-token-0123456789abcdef";
/** Loud and quiet in turns (600 ms each), so a level meter that works cannot stand still. Tone levels are peaks. */
const LOUD_DBFS = -10;
const QUIET_DBFS = -28;
/** A sine's RMS (what the meters read) is 3 dB under its peak. */
const SINE_RMS_DB = -3;
const callerPlay = [...Array.from({ length: 25 }, (_, i) => `tone:440@${i % 2 ? QUIET_DBFS : LOUD_DBFS}/600`), "tone:440"].join(",");

/** The pipeline's side: an 880 Hz tone in real time, loud and quiet in turns. */
function speakInTurns(rate = 8000): Behaviour {
  return (stream) => {
    const frame = new Int16Array(rate / 50);
    const started = performance.now();
    let sent = 0;
    let phase = 0;
    const timer = setInterval(() => {
      const due = Math.floor((performance.now() - started) / 20) + 3;
      for (; sent < due; sent++) {
        const amp = 32767 * 10 ** ((Math.floor(sent / 30) % 2 ? QUIET_DBFS : LOUD_DBFS) / 20);
        for (let i = 0; i < frame.length; i++) frame[i] = Math.round(amp * Math.sin((phase += (2 * Math.PI * 880) / rate)));
        stream.sendPcm(frame);
      }
    }, 20);
    return () => clearInterval(timer);
  };
}

/** What the page shows of one call card, read from the DOM: the meters' values and the numbers printed beside them. */
async function readCard(page: Page, section: "live" | "ended", callId: string) {
  return page.evaluate(
    (section, callId) => {
      const el = document.querySelector(`#${section} [data-call-id="${callId}"]`);
      if (!el) return null;
      const text = (sel: string) => el.querySelector(sel)?.textContent ?? "";
      const meter = (side: string) => (el.querySelector(`meter.${side}`) as HTMLMeterElement).value;
      return {
        state: text(".state"),
        parties: text(".parties"),
        codec: text(".codec"),
        duration: text(".duration"),
        playout: text(".buffer"),
        rtt: text(".rtt"),
        quality: text(".quality"),
        recording: text(".recording"),
        end: text(".end"),
        caller: meter("caller"),
        agent: meter("agent"),
        callerText: text(".caller-db"),
        agentText: text(".agent-db"),
      };
    },
    section,
    callId,
  );
}

type Card = NonNullable<Awaited<ReturnType<typeof readCard>>>;

/** Waits for a call's card to meet `ok`; on timeout says what the page and the host had. */
async function waitCard(page: Page, section: "live" | "ended", call: Call, ok: (c: Card) => boolean, what: string): Promise<Card> {
  let last: Card | null = null;
  try {
    return await until(async () => {
      last = await readCard(page, section, call.id);
      return last && ok(last) ? last : undefined;
    }, what, 20_000);
  } catch (err) {
    const host = { state: call.state, endReason: call.endReason, recording: call.recording?.path ?? null, stream: !!call.stream };
    throw new Error(`${(err as Error).message}; the card: ${JSON.stringify(last)}; the host: ${JSON.stringify(host)}`, { cause: err });
  }
}

/** The event stream's raw text for a while (what any client of /status/events gets). */
async function streamText(url: string, forMs: number): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(forMs) });
  const reader = res.body!.getReader();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString("utf8");
    }
  } catch {
    // The timeout: what came so far is the sample.
  }
  return text;
}

describe("status page (GET /status, real Chrome)", () => {
  let stack: Stack;
  let pipeline: Awaited<ReturnType<typeof startTestPipeline>>;
  let viewer: Browser;
  let page: Page;
  let stopped = false;
  const problems: string[] = [];

  beforeAll(async () => {
    pipeline = await startTestPipeline(() => speakInTurns());
    stack = await startStack({ PIPELINE_URL: pipeline.url, API_TOKEN, RECORDINGS_DIR: await mkdtemp(join(tmpdir(), "status-rec-")) });
    // A browser of its own, as someone watching would have: not the host's Chrome.
    viewer = await launchChrome({ headless: true, insecureTls: false });
    page = await viewer.newPage();
    // A CSP violation or a script error would leave the page blank or stale: either fails the test.
    page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
    page.on("pageerror", (e) => problems.push((e as Error).message));
    await page.setViewport({ width: 420, height: 900, deviceScaleFactor: 1 });
  });
  afterAll(async () => {
    await viewer?.close().catch(() => {});
    if (!stopped) await stack?.stop();
    await pipeline?.close();
  });

  it("shows the host, a live call with both meters moving, then the call ended with its recording", async () => {
    await page.goto(`${stack.httpUrl}/status`);
    await page.waitForFunction(() => document.getElementById("link")?.textContent === "live" && document.getElementById("registered")?.textContent === "SIP registered", { timeout: 10_000 });
    expect(await page.$eval("#chrome", (e) => e.textContent)).toBe("Chrome up");
    expect(stack.statusHub.clientCount).toBe(1);

    // A short call first: it is listed as ended while the next one is live.
    const first = await stack.placeCall({ from: "+15550006001", play: "tone:440" });
    const firstCall = await until(() => stack.host.calls.byTelephonySession(first.telephonySessionId), "the first call");
    // Hung up once its audio flows (a call that ends before its stream starts has no recording).
    await waitCard(page, "live", firstCall, (c) => c.state === "answered" && c.caller > -50, "the first call answered, its audio on the meter");
    await stack.hangupFromCaller(first.callId);
    await waitCard(page, "ended", firstCall, (c) => c.recording.endsWith(".wav"), "the first call listed as ended with its recording");

    const placed = await stack.placeCall({ from: "+15550006000", play: callerPlay });
    const call = await until(() => stack.host.calls.byTelephonySession(placed.telephonySessionId), "the host's call");
    const live = await waitCard(page, "live", call, (c) => c.state === "answered" && c.caller > -50 && c.agent > -50, "the page to show the answered call with audio on both meters");
    expect(live.parties).toContain("+15550006000");
    expect(live.codec).toMatch(/^(opus|PCMU|PCMA|G722)$/i);
    const sample = streamText(`${stack.httpUrl}/status/events`, 1500);

    // Both meters follow the tones: each reaches the loud level and the quiet one, never the floor,
    // and the number beside each meter is its value.
    const seen = { caller: [] as number[], agent: [] as number[] };
    const loud = LOUD_DBFS + SINE_RMS_DB;
    const quiet = QUIET_DBFS + SINE_RMS_DB;
    const reached = (v: number[]) => v.some((d) => Math.abs(d - loud) <= 3) && v.some((d) => Math.abs(d - quiet) <= 4);
    await until(async () => {
      const c = await readCard(page, "live", call.id);
      if (!c) throw new Error("the live call left the page while audio was flowing");
      for (const side of ["caller", "agent"] as const) {
        seen[side].push(c[side]);
        expect(Math.abs(Number.parseFloat(c[`${side}Text`]) - c[side]), `${side}: "${c[`${side}Text`]}" beside ${c[side]}`).toBeLessThanOrEqual(0.5);
      }
      await new Promise((r) => setTimeout(r, 100));
      return reached(seen.caller) && reached(seen.agent);
    }, `both meters to read the loud (${loud} dBFS) and the quiet (${quiet} dBFS) tone`, 20_000);
    for (const side of ["caller", "agent"] as const) {
      expect(Math.max(...seen[side]), side).toBeLessThanOrEqual(loud + 3);
      expect(Math.min(...seen[side]), side).toBeGreaterThan(-50);
    }
    // The duration counts up while the call is live.
    const seconds = (c: Card) => c.duration.split(":").reduce((t, v) => t * 60 + Number(v), 0);
    const now = await waitCard(page, "live", call, (c) => seconds(c) >= 2, "the call's duration to reach 0:02");
    // Latency: the playout queue (the test pipeline runs ahead of the call) and a loopback round trip.
    expect(now.playout).toMatch(/^\d+ ms$/);
    const rtt = await until(async () => /^(\d+) ms$/.exec((await readCard(page, "live", call.id))?.rtt ?? "")?.[1], "the pipeline's round trip on the page");
    expect(Number(rtt)).toBeLessThan(1000);
    // Call quality from Chrome's WebRTC stats (sampled every 2 s): the host's figures, as the page prints them.
    const q = await until(async () => {
      const text = (await readCard(page, "live", call.id))?.quality ?? "";
      return /^jitter (\d+) ms · loss ([\d.]+) % · RTT (\d+ ms|—) · buffer (\d+) ms · concealed ([\d.]+) %$/.exec(text);
    }, "the call's network quality on the page", 15_000);
    const hostQuality = stack.host.calls.byTelephonySession(placed.telephonySessionId)!.quality!;
    expect(hostQuality.samples).toBeGreaterThan(0);
    // A clean loopback link: nothing lost, jitter and the jitter buffer within what a loopback link shows.
    expect(Number(q[2])).toBe(0);
    expect(Number(q[1])).toBeLessThan(100);
    expect(Number(q[4])).toBeGreaterThan(0);

    // The screenshot for the README: the call live, both meters up.
    const shot = process.env.STATUS_SCREENSHOT ? join(import.meta.dirname, "../docs/status.png") : join(tmpdir(), `status-${process.pid}.png`);
    await page.screenshot({ path: shot as `${string}.png`, fullPage: true });

    await stack.hangupFromCaller(placed.callId);
    const ended = await waitCard(page, "ended", call, (c) => c.state === "ended" && c.recording.endsWith(".wav"), "the page to list the call as ended with its recording");
    expect(ended.recording).toContain(placed.telephonySessionId);
    expect(ended.end).not.toBe("—");
    expect(await readCard(page, "live", call.id)).toBeNull();
    expect(await page.$eval("#live-count", (e) => e.textContent)).toBe("0");
    // Newest first.
    expect(await page.$$eval("#ended [data-call-id]", (els) => els.map((e) => (e as HTMLElement).dataset.callId))).toEqual([call.id, firstCall.id]);

    // No secret in the page or the stream: the API token, the app's credentials, the SIP password.
    const shown = (await page.content()) + (await sample);
    expect(await sample).toMatch(/event: (snapshot|update)\ndata: \{"host"/);
    for (const secret of [API_TOKEN, stack.twin.clientSecret, stack.twin.jwt, stack.twin.account.sip.password]) expect(shown).not.toContain(secret);
    expect(problems).toEqual([]);

    // The host stops: the page is told, and the stream is closed, not left open.
    stopped = true;
    await stack.stop();
    await page.waitForFunction(() => document.getElementById("link")?.textContent === "host stopped", { timeout: 10_000 });
    expect(stack.statusHub.clientCount).toBe(0);
  });
});

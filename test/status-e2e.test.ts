import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "puppeteer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, until, type Stack } from "./support/stack.ts";
import { startTestPipeline, type Behaviour } from "./support/twilio-pipeline.ts";

/** Loud and quiet in turns (600 ms each), so a level meter that works cannot stand still. */
const LOUD_DBFS = -10;
const QUIET_DBFS = -28;
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

/** What the page shows of one call card, read from the DOM. */
async function readCard(page: Page, section: "live" | "ended", callId: string) {
  return page.evaluate(
    (section, callId) => {
      const el = document.querySelector(`#${section} [data-call-id="${callId}"]`);
      if (!el) return null;
      const text = (sel: string) => el.querySelector(sel)?.textContent ?? "";
      const db = (side: string) => Number((el.querySelector(`meter.${side}`) as HTMLElement).dataset.dbfs);
      return { state: text(".state"), parties: text(".parties"), codec: text(".codec"), recording: text(".recording"), end: text(".end"), caller: db("caller"), agent: db("agent") };
    },
    section,
    callId,
  );
}

describe("status page (GET /status, real Chrome)", () => {
  let stack: Stack;
  let pipeline: Awaited<ReturnType<typeof startTestPipeline>>;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    pipeline = await startTestPipeline(() => speakInTurns());
    stack = await startStack({ PIPELINE_URL: pipeline.url, RECORDINGS_DIR: await mkdtemp(join(tmpdir(), "status-rec-")) });
    page = await stack.host.chromePage()!.browser().newPage();
    // A CSP violation or a script error would leave the page blank or stale: either fails the test.
    page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
    page.on("pageerror", (e) => problems.push((e as Error).message));
    await page.setViewport({ width: 420, height: 900 });
  });
  afterAll(async () => {
    await page?.close().catch(() => {});
    await stack?.stop();
    await pipeline?.close();
  });

  it("shows the host, a live call with both meters moving, then the call ended with its recording", async () => {
    const res = await page.goto(`${stack.httpUrl}/status`);
    expect(res!.headers()["content-security-policy"]).toContain("default-src 'none'");
    await page.waitForFunction(() => document.getElementById("link")?.textContent === "live" && document.getElementById("registered")?.textContent === "SIP registered", { timeout: 10_000 });
    expect(await page.$eval("#chrome", (e) => e.textContent)).toBe("Chrome up");

    const placed = await stack.placeCall({ from: "+15550006000", play: callerPlay });
    const call = await until(() => stack.host.calls.byTelephonySession(placed.telephonySessionId), "the host's call");
    const live = await until(async () => {
      const c = await readCard(page, "live", call.id);
      return c?.state === "answered" && c.caller > -50 && c.agent > -50 ? c : undefined;
    }, "the page to show the answered call with audio on both meters", 20_000);
    expect(live.parties).toContain("+15550006000");
    expect(live.codec).not.toBe("—");

    // Both meters move while audio flows (loud and quiet turns), and never fall to the floor.
    const seen = { caller: [live.caller], agent: [live.agent] };
    await until(async () => {
      const c = await readCard(page, "live", call.id);
      if (!c) throw new Error("the live call left the page while audio was flowing");
      seen.caller.push(c.caller);
      seen.agent.push(c.agent);
      const spread = (v: number[]) => Math.max(...v) - Math.min(...v);
      await new Promise((r) => setTimeout(r, 150));
      return spread(seen.caller) >= 8 && spread(seen.agent) >= 8;
    }, "both meters to move by 8 dB or more", 20_000);
    expect(Math.min(...seen.caller)).toBeGreaterThan(-50);
    expect(Math.min(...seen.agent)).toBeGreaterThan(-50);

    const shot = process.env.STATUS_SCREENSHOT ? join(import.meta.dirname, "../docs/status.png") : join(tmpdir(), `status-${process.pid}.png`);
    await page.screenshot({ path: shot as `${string}.png`, fullPage: true });

    await stack.hangupFromCaller(placed.callId);
    const ended = await until(async () => {
      const c = await readCard(page, "ended", call.id);
      return c?.state === "ended" && c.recording.endsWith(".wav") ? c : undefined;
    }, "the page to list the call as ended with its recording", 20_000);
    expect(ended.recording).toContain(placed.telephonySessionId);
    expect(await readCard(page, "live", call.id)).toBeNull();
    expect(await page.$eval("#live-count", (e) => e.textContent)).toBe("0");
    expect(problems).toEqual([]);
  });
});

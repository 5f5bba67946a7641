/**
 * Page → host events in any order, through the real page link into a real Host (built, not
 * started: the test plays the page over the link's control socket, and a raw pipeline takes the
 * streams). Whatever the page says about whichever calls, the host ends every call once, frees
 * every slot, stops every pipeline stream it started, and keeps answering the page.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { PageLink } from "../bridge/page-link.ts";
import type { PageEvent } from "../bridge/page-protocol.ts";
import { startBareHost, type BareHost } from "./support/bare-host.ts";
import { runs } from "./support/fuzz.ts";
import { hostileControlText, validEvent } from "./support/page-events.ts";
import { startRawPipeline, type RawPipeline } from "./support/raw-pipeline.ts";
import { until } from "./support/until.ts";

const IDS = ["sip-1", "sip-2", "sip-3"];
const SLOTS = 2;

let bare: BareHost;
let pipeline: RawPipeline;
let link: PageLink;
let page: WebSocket;
/** Commands the host sent the page, in order. */
const commands: Array<{ type: string; requestId?: string; sipCallId?: string }> = [];

beforeAll(async () => {
  pipeline = await startRawPipeline();
  bare = await startBareHost({ PIPELINE_URL: pipeline.url, MAX_CONCURRENT_CALLS: String(SLOTS), PIPELINE_CONNECT_TIMEOUT_MS: "2000" });
  // What the login reads (the pipeline's start carries the account id): as if start() had run.
  bare.host["rc"].extension = { accountId: "1", extensionId: "2", extensionNumber: "101", name: "bot" };
  link = bare.host["link"];
  await link.listen({ "page.js": "// page" });
  const u = new URL(link.pageUrl);
  page = new WebSocket(`ws://127.0.0.1:${u.port}/page/control?token=${u.searchParams.get("token")}`);
  await new Promise((r) => page.once("open", r));
  // The page carries out every command at once; the events are the fuzz's to send.
  page.on("message", (data) => {
    const cmd = JSON.parse(data.toString()) as (typeof commands)[number];
    commands.push(cmd);
    if (cmd.requestId) page.send(JSON.stringify({ type: "result", requestId: cmd.requestId, ok: true }));
  });
});
afterAll(async () => {
  // Stopping first: a page link that closes while the host runs means "relaunch Chrome".
  await bare?.stop();
  page?.close();
  await pipeline?.close();
});

const send = (e: PageEvent | string) => page.send(typeof e === "string" ? e : JSON.stringify(e));
let sentinels = 0;

/** Every message sent so far has been handled: the link handles them in order. */
async function handled(): Promise<void> {
  const requestId = `sentinel-${++sentinels}`;
  const seen = link.waitFor(["result"], 5000, "the sentinel", (e) => e.requestId === requestId);
  send({ type: "result", requestId, ok: true });
  await seen;
}

describe("page events in any order, about any call", () => {
  it("end every call once, free every slot, stop every stream that started", async () => {
    const listeners = link.listenerCount("event");
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof({ weight: 5, arbitrary: validEvent(IDS) }, hostileControlText), { maxLength: 25 }), fc.nat(5), async (events, pauseMs) => {
        for (const e of events) {
          send(e);
          // Sometimes let the host's answering run between events, sometimes not.
          if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
        }
        await handled();
        // The calls end as the page says they do.
        await until(async () => {
          const active = bare.host.calls.active();
          for (const c of active) send({ type: "ended", sipCallId: c.sipCallId, by: "remote" });
          await handled();
          return bare.host.calls.active().length === 0;
        }, "every call to end");
        const slots = Array.from({ length: SLOTS }, () => bare.host.calls.takeSlot());
        expect(slots.sort()).toEqual([0, 1]);
        for (const s of slots) bare.host.calls.returnSlot(s!);
        await until(() => pipeline.connections.every((c) => c.closed), "every pipeline stream to close");
        for (const c of pipeline.connections) {
          // A start is always followed by stop (docs/PROTOCOL.md).
          if (c.messages.some((m) => m.event === "start")) expect(pipeline.events(c)).toContain("stop");
        }
        expect(link.listenerCount("event")).toBe(listeners);
      }),
      runs(40),
    );
    // The fuzz reached the answer path: calls were answered and streamed, not only refused.
    expect(commands.some((c) => c.type === "answer")).toBe(true);
    expect(pipeline.connections.filter((c) => c.messages.some((m) => m.event === "start")).length).toBeGreaterThan(0);
    // The page link still works both ways.
    await bare.host["link"].request({ type: "unregister" }, 5000);
    expect(page.readyState).toBe(WebSocket.OPEN);
  });
});

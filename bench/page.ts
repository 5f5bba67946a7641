/**
 * What the bench reads from the host's Chrome page (`host.chromePage()`): WebRTC stats, and the
 * CDP sessions puppeteer holds for the page and its workers.
 */
import type { CDPSession } from "puppeteer";
import type { Host } from "../host/host.ts";
import { round } from "./stats.ts";

export interface JitterBuffer {
  avgDelayMs: number;
  targetDelayMs: number;
  minimumDelayMs: number;
}

/** Chrome's receive-side jitter buffer (NetEq) for the page's calls, from WebRTC stats (window.phone.stats()). */
export async function jitterBuffers(host: Host): Promise<JitterBuffer[]> {
  const page = host.chromePage();
  if (!page) return [];
  const stats = (await page.evaluate(() => (window as unknown as { phone: { stats(): Promise<Record<string, unknown[]>> } }).phone.stats())) as Record<string, Array<Record<string, number | string>>>;
  const out: JitterBuffer[] = [];
  for (const list of Object.values(stats)) {
    for (const s of list) {
      if (s.type !== "inbound-rtp") continue;
      const emitted = Number(s.jitterBufferEmittedCount) || NaN;
      out.push({
        avgDelayMs: round((Number(s.jitterBufferDelay) / emitted) * 1000, 1),
        targetDelayMs: round((Number(s.jitterBufferTargetDelay) / emitted) * 1000, 1),
        minimumDelayMs: round((Number(s.jitterBufferMinimumDelay) / emitted) * 1000, 1),
      });
    }
  }
  return out;
}

/**
 * The CDP sessions puppeteer holds for the host's page and its workers (the media worker among
 * them). Ours must be the very sessions puppeteer enabled the Network domain on: a new one
 * (`createCDPSession`) has its own domains. Puppeteer exposes a worker's session but not the
 * page's, hence the one cast into puppeteer (`_client()`, internal there).
 */
function cdpSessions(host: Host): CDPSession[] {
  const page = host.chromePage();
  if (!page) return [];
  const pageSession = (page as unknown as { _client(): CDPSession })._client();
  return [pageSession, ...page.workers().map((w) => w.client)];
}

const FRAME_EVENTS = ["Network.webSocketFrameSent", "Network.webSocketFrameReceived"] as const;

/** Counts the DevTools events Chrome sends the host for media WebSocket frames, until stop(). */
export function countCdpFrameEvents(host: Host): { stop(): { eventsPerS: number; kibPerS: number } } {
  const sessions = cdpSessions(host);
  const started = Date.now();
  let events = 0;
  let bytes = 0;
  const handler = (e: { response?: { payloadData?: string } }) => {
    events++;
    bytes += (e.response?.payloadData?.length ?? 0) + 150;
  };
  for (const s of sessions) for (const e of FRAME_EVENTS) s.on(e, handler);
  return {
    stop() {
      for (const s of sessions) for (const e of FRAME_EVENTS) s.off(e, handler);
      const seconds = (Date.now() - started) / 1000;
      return { eventsPerS: round(events / seconds), kibPerS: round(bytes / 1024 / seconds) };
    },
  };
}

export async function setCdpNetwork(host: Host, enabled: boolean): Promise<void> {
  await Promise.all(cdpSessions(host).map((s) => s.send(enabled ? "Network.enable" : "Network.disable").catch(() => undefined)));
}

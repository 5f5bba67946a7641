/**
 * What the twin's fault tests share: one twin, its control API, raw SIP clients that are closed
 * after each test, and one-shot WebSocket upgrades that report how they were refused.
 */
import { afterAll, afterEach, beforeAll } from "vitest";
import { WebSocket } from "ws";
import { startTwin, type Twin } from "../../twin/server.ts";
import { rawSipClient, type RawSipClient } from "./raw-sip.ts";

export { until } from "./until.ts";

export type Upgrade = { open: true; ws: WebSocket } | { open: false; status?: number; retryAfter?: string; error?: string };

export async function startFaultHarness() {
  const twin: Twin = await startTwin();
  const clients: RawSipClient[] = [];

  async function control<T = any>(path: string, opts: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: T }> {
    const res = await fetch(`${twin.controlUrl}${path}`, {
      method: opts.method ?? "GET",
      headers: opts.body === undefined ? {} : { "content-type": "application/json" },
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    return { status: res.status, body: (await res.json()) as T };
  }

  return {
    twin,
    control,
    sipInfo: () => twin.account.sip,
    async client(): Promise<RawSipClient> {
      const c = await rawSipClient(twin.sipWssUrl);
      clients.push(c);
      return c;
    },
    registrations: async () => (await control<{ records: Array<{ instanceId: string; connectionId: number; extensionNumber: string }> }>("/registrations")).body.records,
    /** One upgrade attempt: open, or how it was refused (HTTP status and Retry-After, or a socket error). */
    tryUpgrade: () =>
      new Promise<Upgrade>((resolve) => {
        const ws = new WebSocket(twin.sipWssUrl, "sip", { rejectUnauthorized: false });
        ws.once("open", () => resolve({ open: true, ws }));
        ws.once("unexpected-response", (_req, res) => {
          resolve({ open: false, status: res.statusCode, retryAfter: res.headers["retry-after"] });
          ws.terminate();
        });
        ws.once("error", (err) => resolve({ open: false, error: (err as NodeJS.ErrnoException).code ?? err.message }));
      }),
    /** After each test: every fault cleared, every client closed (waited for, so the next test meets none of its registrations). */
    async cleanup(): Promise<void> {
      await control("/faults", { method: "DELETE" });
      await Promise.all(
        clients.splice(0).map((c) => {
          c.close();
          return c.closed;
        }),
      );
    },
    stop: () => twin.stop(),
  };
}

export type FaultHarness = Awaited<ReturnType<typeof startFaultHarness>>;

/**
 * One harness for a test file: started before its tests, faults and clients cleared after each,
 * stopped after all. The returned functions reach the harness of the moment.
 */
export function useFaultHarness() {
  let h: FaultHarness;
  beforeAll(async () => {
    h = await startFaultHarness();
  });
  afterAll(async () => {
    await h.stop();
  });
  afterEach(async () => {
    await h.cleanup();
  });
  return {
    harness: () => h,
    control: ((path, opts) => h.control(path, opts)) as FaultHarness["control"],
    client: () => h.client(),
    sipInfo: () => h.sipInfo(),
    registrations: () => h.registrations(),
    tryUpgrade: () => h.tryUpgrade(),
  };
}

import { readFile } from "node:fs/promises";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../host/config.ts";
import { Host } from "../host/host.ts";
import { createLogger } from "../host/log.ts";
import { startTwin } from "../twin/server.ts";
import { twinEnv } from "./support/stack.ts";

/** sipInfo is provisioned once and reused across restarts, as RingCentral asks; a stale one is replaced. */
describe("sipInfo cache", () => {
  it("reuses the cached sipInfo and instance id, and re-provisions when the cache is stale", async () => {
    const cache = `/tmp/sipinfo-cache-test-${process.pid}-${Date.now()}.json`;
    const run = async (twin: Awaited<ReturnType<typeof startTwin>>) => {
      const lines: string[] = [];
      const log = createLogger("info", { destination: { write: (s: string) => void lines.push(s) } });
      const config = loadConfig({
        ...twinEnv(twin),
        PIPELINE_URL: "ws://127.0.0.1:1",
        SIP_INFO_CACHE: cache,
      });
      const host = new Host(config, log);
      await host.start();
      const instance = (await (await fetch(`${twin.controlUrl}/registrations`)).json()).records[0].instanceId as string;
      await host.stop();
      const events = lines.map((l) => JSON.parse(l) as { msg: string; cachedSipInfo?: boolean });
      return { instance, cached: events.find((e) => e.msg === "sip: registered")?.cachedSipInfo, provisions: events.filter((e) => e.msg === "ringcentral: sip-provisioned").length, stale: events.some((e) => e.msg === "sip: cached sipInfo failed, provisioning afresh") };
    };
    const twin = await startTwin({ log: pino({ level: "silent" }) });
    const first = await run(twin);
    const second = await run(twin);
    await twin.stop();
    const port = Number(new URL(twin.restUrl).port);
    expect(first).toMatchObject({ cached: false, provisions: 1, stale: false });
    expect(second).toMatchObject({ cached: true, provisions: 0, stale: false });
    expect(second.instance).toBe(first.instance);
    // The file holds the SIP password: owner-only.
    const { stat } = await import("node:fs/promises");
    expect((await stat(cache)).mode & 0o077).toBe(0);
    expect(JSON.parse(await readFile(cache, "utf8")).instanceId).toBe(first.instance);
    // The same server and app, but a new SIP password: the cached sipInfo fails and the host provisions afresh.
    const other = await startTwin({ log: pino({ level: "silent" }), httpPort: port });
    const third = await run(other);
    await other.stop();
    expect(third).toMatchObject({ cached: false, provisions: 1, stale: true });
  });
});

/**
 * The events out as the host composes them (spool, delivery, metrics), against a real receiver on
 * loopback: a full spool drops the oldest and says so in /metrics, the secret stays out of the
 * metrics, the logs and the spool, and a spool directory that cannot be used fails the start.
 */
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { EventsConfig } from "../host/config.ts";
import { EventsOut } from "../host/events-out.ts";
import { createLogger } from "../host/log.ts";
import { Metrics } from "../host/metrics.ts";
import { eventSecret, startEventReceiver, type EventReceiver } from "./support/event-receiver.ts";
import { until } from "./support/until.ts";

const secret = eventSecret();
const key = secret.slice("whsec_".length);
// Short retry waits; the backoff's shape is ./backoff.ts's (tested there).
const FAST = { baseMs: 20, capMs: 100, random: () => 0.5 };

let receiver: EventReceiver | undefined;
let out: EventsOut | undefined;
afterEach(async () => {
  await out?.stop(0);
  await receiver?.close();
  out = receiver = undefined;
});

function logSink() {
  const lines: string[] = [];
  return { lines, log: createLogger("trace", { destination: { write: (s: string) => void lines.push(s) } }) };
}

async function eventsOut(config: Partial<EventsConfig> & { url: string }) {
  const metrics = new Metrics();
  const { lines, log } = logSink();
  const spoolDir = config.spoolDir ?? join(await mkdtemp(join(tmpdir(), "events-out-")), "spool");
  out = new EventsOut({ secret, spoolDir, spoolMaxEvents: 1000, spoolMaxBytes: 1 << 20, ...config }, metrics, log, "host-a", FAST);
  return { metrics, lines, spoolDir, out };
}

const metricValue = async (m: Metrics, pattern: RegExp): Promise<number | undefined> => {
  const hit = pattern.exec(await m.registry.metrics());
  return hit ? Number(hit[1]) : undefined;
};

describe("events out", () => {
  it("keeps at most EVENTS_SPOOL_MAX_EVENTS while the receiver refuses: the oldest dropped, counted, the backlog in /metrics", async () => {
    receiver = await startEventReceiver(secret, () => 503);
    const { metrics, lines, spoolDir, out } = await eventsOut({ url: receiver.url, spoolMaxEvents: 5 });
    await out.start();
    for (let n = 1; n <= 12; n++) out.emit("call.ringing", { n });
    await until(async () => (await metricValue(metrics, /^rcvh_events_dropped_total\{reason="spool-full"\} (\d+)$/m)) === 7, "7 events dropped for the bound");
    expect(await metricValue(metrics, /^rcvh_events_backlog (\d+)$/m)).toBe(5);
    const left = (await readdir(spoolDir)).sort();
    expect(left).toHaveLength(5);
    const kept = await Promise.all(left.map(async (f) => JSON.parse(await readFile(join(spoolDir, f), "utf8")) as { data: { n: number } }));
    expect(kept.map((e) => e.data.n)).toEqual([8, 9, 10, 11, 12]);
    expect(lines.some((l) => /spool full, the oldest events dropped/.test(l))).toBe(true);

    // Once the receiver takes them, the five newest arrive, in order, and the backlog is 0.
    receiver.respondWith(() => 204);
    await until(() => receiver!.accepted().length >= 5, "the kept events to be delivered", 10_000);
    expect(receiver.accepted().map((e) => e.data.n)).toEqual([8, 9, 10, 11, 12]);
    await until(async () => (await metricValue(metrics, /^rcvh_events_backlog (\d+)$/m)) === 0, "the backlog to empty");

    // The key is in no metric, no log line, no spooled file (they are signed as they are sent).
    const all = [await metrics.registry.metrics(), ...lines, ...receiver.deliveries.map((d) => d.body)].join("\n");
    expect(all).not.toContain(key);
    expect(all).not.toContain(secret);
  });

  it("a spool directory that cannot be used fails the start with one line naming EVENTS_SPOOL_DIR", async () => {
    const base = await mkdtemp(join(tmpdir(), "events-out-"));
    const file = join(base, "a-file");
    await writeFile(file, "");
    const { out } = await eventsOut({ url: "http://127.0.0.1:9/events", spoolDir: join(file, "spool") });
    await expect(out.start()).rejects.toThrow(/^EVENTS_SPOOL_DIR ".*a-file\/spool" cannot be used for the events' spool \(ENOTDIR/);
  });
});

import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { EventDelivery } from "../host/event-delivery.ts";
import { EventSpool } from "../host/event-spool.ts";
import { Events } from "../host/events.ts";
import { eventSecret, startEventReceiver, type EventReceiver } from "./support/event-receiver.ts";
import { until } from "./support/until.ts";

const secret = eventSecret();
// Short waits so the test retries quickly; the backoff's shape is ./backoff.ts's (tested there).
const FAST = { baseMs: 20, capMs: 100, random: () => 0.5 };
const log = pino({ level: "silent" });

let receiver: EventReceiver | undefined;
let delivery: EventDelivery | undefined;
afterEach(async () => {
  await delivery?.stop();
  await receiver?.close();
  delivery = receiver = undefined;
});

async function setup(respond: (n: number) => number, url?: string) {
  receiver = await startEventReceiver(secret, respond);
  const spool = await EventSpool.open(await mkdtemp(join(tmpdir(), "deliver-")), { maxEvents: 100, maxBytes: 1 << 20 });
  const counts = { delivered: 0, failed: [] as string[], dropped: 0 };
  delivery = new EventDelivery({
    url: url ?? receiver.url,
    secret,
    spool,
    log,
    backoff: FAST,
    counters: { delivered: () => counts.delivered++, failed: (r) => counts.failed.push(r), dropped: () => counts.dropped++ },
  });
  const events = new Events((e) => void spool.append(e), "host-a");
  return { spool, counts, events };
}

describe("event delivery", () => {
  it("signs each event so the library's verify accepts it, with the payload as emitted", async () => {
    const { events, counts, spool } = await setup(() => 204);
    delivery!.start();
    events.emit("call.ringing", { callId: "c-1", from: "+15550001" });
    await until(() => counts.delivered === 1 && spool.size === 0, "the delivery");
    const [d] = receiver!.deliveries;
    expect(d.verified).toBe(true);
    expect(d.id).toMatch(/^msg_/);
    expect(JSON.parse(d.body)).toMatchObject({ type: "call.ringing", data: { callId: "c-1", from: "+15550001", hostId: "host-a" } });
    expect(Math.abs(Number(d.timestamp) - Date.now() / 1000)).toBeLessThan(60);
  });

  it("retries a 503 (and 408, 429) with the same webhook-id until it is accepted, in order", async () => {
    const answers = [503, 408, 429, 503];
    const { events, counts, spool } = await setup((n) => answers[n - 1] ?? 200);
    events.emit("call.ringing", { n: 1 });
    events.emit("call.answered", { n: 2 });
    await spool.flush();
    delivery!.start();
    await until(() => counts.delivered === 2 && spool.size === 0, "both deliveries");
    const ds = receiver!.deliveries;
    expect(ds.map((d) => d.status)).toEqual([503, 408, 429, 503, 200, 200]);
    // The first five are one event, retried: one id; then the second event.
    expect(new Set(ds.slice(0, 5).map((d) => d.id)).size).toBe(1);
    expect(ds[5].id).not.toBe(ds[0].id);
    expect(receiver!.accepted().map((e) => e.type)).toEqual(["call.ringing", "call.answered"]);
    expect(counts.failed).toEqual(["http-5xx", "http-408", "http-429", "http-5xx"]);
    expect(ds.every((d) => d.verified)).toBe(true);
  });

  it("drops an event the receiver refuses with a 4xx, counts it, and goes on with the next", async () => {
    const { events, counts, spool } = await setup((n) => (n === 1 ? 422 : 204));
    delivery!.start();
    events.emit("call.ringing", { n: 1 });
    events.emit("call.ended", { n: 2 });
    await until(() => counts.delivered === 1 && spool.size === 0, "the second delivery");
    expect(counts.dropped).toBe(1);
    expect(receiver!.deliveries.map((d) => d.status)).toEqual([422, 204]);
    expect(receiver!.accepted().map((e) => e.type)).toEqual(["call.ended"]);
  });

  it("retries while nothing listens, and delivers once something does", async () => {
    const r = await startEventReceiver(secret);
    const url = r.url;
    await r.close(); // the port is free: connection refused
    const { events, counts, spool } = await setup(() => 204, url);
    delivery!.start();
    events.emit("registration.changed", { registered: true });
    await until(() => counts.failed.length >= 2, "failed attempts");
    expect(counts.failed.every((f) => f === "network")).toBe(true);
    expect(spool.size).toBe(1);
    await delivery!.stop();
    // A new delivery against a live receiver, on the same spool: the event goes out.
    delivery = new EventDelivery({ url: receiver!.url, secret, spool, log, backoff: FAST, counters: { delivered: () => counts.delivered++, failed: () => {}, dropped: () => {} } });
    delivery.start();
    await until(() => counts.delivered === 1 && spool.size === 0, "the delivery");
    expect(receiver!.accepted().map((e) => e.type)).toEqual(["registration.changed"]);
  });

  it("stops at once while retrying, leaving the event spooled", async () => {
    const { events, counts, spool } = await setup(() => 503);
    delivery!.start();
    events.emit("call.ringing", {});
    await until(() => counts.failed.length >= 1, "a failed attempt");
    await delivery!.stop(50);
    expect(spool.size).toBe(1);
  });
});

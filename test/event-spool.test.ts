import { mkdtemp, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EventSpool } from "../host/event-spool.ts";
import type { SpooledEvent } from "../host/events.ts";

const LIMITS = { maxEvents: 1000, maxBytes: 1 << 20 };
const ev = (n: number): SpooledEvent => ({ id: `msg_${n}`, type: "call.ringing", timestamp: new Date(0).toISOString(), data: { n } });

async function drain(spool: EventSpool): Promise<string[]> {
  const ids: string[] = [];
  for (let next = await spool.peek(); next; next = await spool.peek()) {
    ids.push(next.event.id);
    await spool.remove(next.seq);
  }
  return ids;
}

describe("event spool", () => {
  it("keeps appended events on disk, in order, until removed", async () => {
    const dir = await mkdtemp(join(tmpdir(), "spool-"));
    const spool = await EventSpool.open(dir, LIMITS);
    // Emitted without waiting, as the host does: the order is the order of the calls.
    for (let i = 1; i <= 20; i++) void spool.append(ev(i));
    await spool.flush();
    expect(spool.size).toBe(20);
    expect(await readdir(dir)).toHaveLength(20);
    expect(await drain(spool)).toEqual(Array.from({ length: 20 }, (_, i) => `msg_${i + 1}`));
    expect(await readdir(dir)).toHaveLength(0);
  });

  it("takes up what a previous run left, in order, and numbers new events after it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "spool-"));
    const first = await EventSpool.open(dir, LIMITS);
    for (let i = 1; i <= 5; i++) void first.append(ev(i));
    await first.flush();
    const head = await first.peek();
    await first.remove(head!.seq); // msg_1 delivered before the "crash"
    const second = await EventSpool.open(dir, LIMITS);
    expect(second.size).toBe(4);
    void second.append(ev(6));
    await second.flush();
    expect(await drain(second)).toEqual(["msg_2", "msg_3", "msg_4", "msg_5", "msg_6"]);
  });

  it("drops the oldest past the count bound, and counts them", async () => {
    const dir = await mkdtemp(join(tmpdir(), "spool-"));
    let dropped = 0;
    const spool = await EventSpool.open(dir, { maxEvents: 3, maxBytes: 1 << 20 }, (n) => (dropped += n));
    for (let i = 1; i <= 7; i++) void spool.append(ev(i));
    await spool.flush();
    expect(dropped).toBe(4);
    expect(await readdir(dir)).toHaveLength(3);
    expect(await drain(spool)).toEqual(["msg_5", "msg_6", "msg_7"]);
  });

  it("drops the oldest past the byte bound, also for what a previous run left", async () => {
    const dir = await mkdtemp(join(tmpdir(), "spool-"));
    const big = (n: number): SpooledEvent => ({ ...ev(n), data: { pad: "x".repeat(1000) } });
    const first = await EventSpool.open(dir, LIMITS);
    for (let i = 1; i <= 10; i++) void first.append(big(i));
    await first.flush();
    let dropped = 0;
    const second = await EventSpool.open(dir, { maxEvents: 100, maxBytes: 3500 }, (n) => (dropped += n));
    expect(dropped).toBe(7);
    expect(await drain(second)).toEqual(["msg_8", "msg_9", "msg_10"]);
  });

  it("skips a file a crash left half-written, and ignores files that are not events", async () => {
    const dir = await mkdtemp(join(tmpdir(), "spool-"));
    await writeFile(join(dir, "0000000000000001.json"), '{"id":"msg_');
    await writeFile(join(dir, "notes.txt"), "hello");
    await writeFile(join(dir, "0000000000000002.json"), JSON.stringify(ev(2)));
    const spool = await EventSpool.open(dir, LIMITS);
    expect(await drain(spool)).toEqual(["msg_2"]);
    expect(await readdir(dir)).toEqual(["notes.txt"]);
  });

  it("reports a write the disk refuses, and goes on with the next", async () => {
    const dir = await mkdtemp(join(tmpdir(), "spool-"));
    const spool = await EventSpool.open(dir, LIMITS);
    // The next file's name is taken by a directory: that one write fails (open "wx").
    await import("node:fs/promises").then((fs) => fs.mkdir(join(dir, "0000000000000001.json")));
    const errors: string[] = [];
    void spool.append(ev(1), (e) => errors.push(e.message));
    void spool.append(ev(2));
    await spool.flush();
    expect(errors).toHaveLength(1);
    expect(spool.size).toBe(1);
  });
});

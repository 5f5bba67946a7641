/**
 * The events' disk spool (EVENTS_SPOOL_DIR): one JSON file per event, named by a sequence number
 * so the directory's order is the events' order, across restarts too. An event is first appended
 * here, then delivered, then removed; what a stopped (or killed) host left is delivered by the
 * next start. fsync policy: each event's file is written, fdatasync'd and closed before the event
 * counts as spooled (a few events per call: the cost is small); the directory itself is not
 * fsync'd, so a power cut (not a crash) may lose the last events' names. Bounded by count and
 * bytes: past either, the oldest events are dropped (and counted).
 */
import { constants } from "node:fs";
import { access, mkdir, open, readdir, readFile, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { SpooledEvent } from "./events.ts";

export interface SpoolLimits {
  maxEvents: number;
  maxBytes: number;
}

interface Entry {
  seq: number;
  name: string;
  bytes: number;
}

const NAME = /^(\d{16})\.json$/;
const nameOf = (seq: number) => `${String(seq).padStart(16, "0")}.json`;

export class EventSpool {
  private readonly entries: Entry[] = [];
  private nextSeq = 1;
  private bytes = 0;
  /** Appends run one at a time, in the order emitted. */
  private chain: Promise<void> = Promise.resolve();
  private readonly listeners: Array<() => void> = [];

  private constructor(
    readonly dir: string,
    private readonly limits: SpoolLimits,
    /** Called with how many of the oldest events a bound dropped. */
    private readonly onDropped: (count: number) => void,
    /** How long each append took (spool-write latency). */
    private readonly onWriteMs: (ms: number) => void,
  ) {}

  /** Opens the spool, taking up what a previous run left (in order). */
  static async open(dir: string, limits: SpoolLimits, onDropped: (count: number) => void = () => {}, onWriteMs: (ms: number) => void = () => {}): Promise<EventSpool> {
    await mkdir(dir, { recursive: true, mode: 0o750 });
    // A spool the host cannot write fails the start, not each event later.
    await access(dir, constants.W_OK);
    const spool = new EventSpool(dir, limits, onDropped, onWriteMs);
    for (const name of (await readdir(dir)).sort()) {
      const m = NAME.exec(name);
      if (!m) continue;
      const bytes = (await stat(join(dir, name)).catch(() => undefined))?.size;
      if (bytes === undefined) continue;
      spool.entries.push({ seq: Number(m[1]), name, bytes });
      spool.bytes += bytes;
    }
    spool.nextSeq = (spool.entries.at(-1)?.seq ?? 0) + 1;
    await spool.enforce();
    return spool;
  }

  /** Events waiting for delivery. */
  get size(): number {
    return this.entries.length;
  }

  /** Hears each append (the delivery wakes up). */
  onAppend(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Queues the event's write; never throws (a failed write is given to `onError`). */
  append(event: SpooledEvent, onError: (err: Error) => void = () => {}): Promise<void> {
    const run = this.chain.then(() => this.write(event)).catch(onError);
    this.chain = run;
    return run;
  }

  /** Resolves once every append so far is on disk (or failed). */
  flush(): Promise<void> {
    return this.chain;
  }

  /** The oldest event still spooled, with its sequence number; undefined when empty. */
  async peek(): Promise<{ seq: number; event: SpooledEvent } | undefined> {
    while (this.entries.length) {
      const e = this.entries[0];
      try {
        return { seq: e.seq, event: JSON.parse(await readFile(join(this.dir, e.name), "utf8")) as SpooledEvent };
      } catch {
        // Unreadable (half-written by a crash, or removed by hand): nothing to deliver.
        this.forget(e);
        await unlink(join(this.dir, e.name)).catch(() => {});
      }
    }
    return undefined;
  }

  /** Takes a delivered (or dropped) event out of the spool. */
  async remove(seq: number): Promise<void> {
    const e = this.entries.find((x) => x.seq === seq);
    if (!e) return;
    this.forget(e);
    await unlink(join(this.dir, e.name)).catch(() => {});
  }

  private async write(event: SpooledEvent): Promise<void> {
    const t0 = performance.now();
    const seq = this.nextSeq++;
    const body = Buffer.from(JSON.stringify(event));
    const name = nameOf(seq);
    const file = await open(join(this.dir, name), "wx", 0o640);
    try {
      await file.write(body, 0, body.length, 0);
      await file.datasync();
    } finally {
      await file.close();
    }
    this.entries.push({ seq, name, bytes: body.length });
    this.bytes += body.length;
    await this.enforce();
    this.onWriteMs(performance.now() - t0);
    for (const listener of this.listeners) listener();
  }

  /** Drops the oldest events while the spool is over a bound. */
  private async enforce(): Promise<void> {
    let dropped = 0;
    while (this.entries.length > this.limits.maxEvents || (this.bytes > this.limits.maxBytes && this.entries.length > 1)) {
      const e = this.entries[0];
      this.forget(e);
      await unlink(join(this.dir, e.name)).catch(() => {});
      dropped++;
    }
    if (dropped) this.onDropped(dropped);
  }

  private forget(e: Entry): void {
    const i = this.entries.indexOf(e);
    if (i === -1) return;
    this.entries.splice(i, 1);
    this.bytes -= e.bytes;
  }
}

/**
 * Stand-ins for the page and for pipeline streams, so the host's call logic (answering, the call
 * lifecycle) is tested without Chrome: every command the logic sends is recorded in order.
 */
import pino from "pino";
import type { PageCommands, PageEventOf, RequestCommand } from "../../bridge/page-link.ts";
import type { PageEvent } from "../../bridge/page-protocol.ts";
import type { StreamInfo } from "../../bridge/pipeline/index.ts";
import type { CallStream, StreamStats } from "../../bridge/stream.ts";
import type { StreamFactory } from "../../host/call-streams.ts";
import type { Call } from "../../host/calls.ts";

export const quietLog = pino({ level: "silent" });

export class FakePage implements PageCommands {
  readonly sent: RequestCommand[] = [];
  /** Command types the page fails (as a page whose call session is gone would). */
  failing = new Set<string>();
  /** Runs as each command is sent, before its result: a test plays the page's events here. */
  onRequest: ((cmd: RequestCommand, requestId: string | undefined) => void) | undefined;
  /** Command types whose result waits until the test calls release(type). */
  readonly holding = new Set<string>();
  private readonly releases = new Map<string, () => void>();
  private next = 0;
  private readonly waiters: Array<{ types: string[]; where?: (e: never) => boolean; resolve(e: PageEvent): void }> = [];

  /** `order` is shared with FakeStreams to see what happened first. */
  constructor(private readonly order: string[] = []) {}

  async request(cmd: RequestCommand, _timeoutMs?: number, requestId?: string): Promise<void> {
    this.sent.push(cmd);
    this.order.push(`page:${cmd.type}`);
    this.onRequest?.(cmd, requestId);
    if (this.holding.has(cmd.type)) await new Promise<void>((r) => this.releases.set(cmd.type, r));
    if (this.failing.has(cmd.type)) throw new Error(`page could not ${cmd.type}`);
  }

  /** Lets a held command's result come (see holding). */
  release(type: string): void {
    this.holding.delete(type);
    this.releases.get(type)?.();
    this.releases.delete(type);
  }

  newRequestId(): string {
    return `fake${++this.next}`;
  }

  /** Resolves with the next matching event the test emits (no timeout: the test fails on its own). */
  waitFor<T extends PageEvent["type"]>(types: T[], _timeoutMs: number, _what: string, where?: (e: PageEventOf<T>) => boolean): Promise<PageEventOf<T>> {
    return new Promise((resolve) => this.waiters.push({ types, where: where as ((e: never) => boolean) | undefined, resolve: resolve as (e: PageEvent) => void }));
  }

  /** The page emits an event: the waits it matches resolve. */
  emit(e: PageEvent): void {
    for (const w of this.waiters.splice(0)) {
      if (w.types.includes(e.type) && (!w.where || w.where(e as never))) w.resolve(e);
      else this.waiters.push(w);
    }
  }

  types(): string[] {
    return this.sent.map((c) => c.type);
  }
}

export interface FakeStream {
  opened: StreamInfo[];
  closedWith: string[];
  announced: number;
  mediaUp: boolean;
  stats: StreamStats;
  /** Set while `open` is held (see FakeStreams.hold): call it to let the dial finish. */
  release?: () => void;
}

/**
 * Streams whose `open` succeeds (or fails when `down`), logging what happened to each. With
 * `hold`, `open` waits for the test to call `release()`, and, as the real stream does, rejects if
 * the stream was closed meanwhile (its dial abandoned, nothing started).
 */
export class FakeStreams implements StreamFactory {
  down = false;
  hold = false;
  readonly made: Array<FakeStream & { call: Call; slot: number }> = [];
  /** `order` is shared with FakePage to see what happened first. */
  constructor(private readonly order: string[] = []) {}

  create(call: Call, slot: number): CallStream {
    const f = {
      call,
      slot,
      opened: [] as StreamInfo[],
      closedWith: [] as string[],
      announced: 0,
      mediaUp: false,
      stats: { callerFrames: 10, agentSamples: 0, playedSamples: 0, marksPlayed: 0, underruns: 2, badMessages: 1, dtmfIn: "", reconnects: 0, droppedCallerFrames: 0, droppedDtmf: 0, drops: { closed: 0, unresponsive: 0, "too-big": 0 }, callerLevelDbfs: -96, agentLevelDbfs: -96, playoutBufferMs: 0, uplink: { mode: "buffered", fastFrames: 0, gaps: 0, gapMs: 0, bridgedFrames: 0 } },
    } as FakeStream & { call: Call; slot: number };
    this.made.push(f);
    const streams = this;
    let closed = false;
    let markClosed!: () => void;
    const stream = {
      stats: f.stats,
      transcript: [],
      whenClosed: new Promise<void>((r) => (markClosed = r)),
      get isClosed() {
        return closed;
      },
      async open(info: StreamInfo) {
        streams.order.push("pipeline:open");
        if (streams.hold) await new Promise<void>((r) => (f.release = r));
        if (closed) throw new Error("the stream closed while the pipeline was dialled");
        if (streams.down) throw new Error("connect ECONNREFUSED");
        f.opened.push(info);
      },
      close(reason: string) {
        f.closedWith.push(reason);
        if (closed) return Promise.resolve(undefined);
        closed = true;
        markClosed();
        return Promise.resolve({ path: `/rec/${call.id}.wav`, durationMs: 1234 });
      },
      announce() {
        f.announced++;
        return Promise.resolve();
      },
      mediaConnected() {
        f.mediaUp = true;
      },
      record() {},
    };
    return stream as unknown as CallStream;
  }

  info(call: Call): StreamInfo {
    return { callSid: call.id, accountId: "acc", from: call.from, to: call.to, direction: call.direction, customParameters: {} };
  }
}

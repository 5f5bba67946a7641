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
  private next = 0;

  /** `order` is shared with FakeStreams to see what happened first. */
  constructor(private readonly order: string[] = []) {}

  async request(cmd: RequestCommand): Promise<void> {
    this.sent.push(cmd);
    this.order.push(`page:${cmd.type}`);
    if (this.failing.has(cmd.type)) throw new Error(`page could not ${cmd.type}`);
  }

  newRequestId(): string {
    return `fake${++this.next}`;
  }

  waitFor<T extends PageEvent["type"]>(): Promise<PageEventOf<T>> {
    return Promise.reject(new Error("FakePage.waitFor is not used by this logic"));
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
}

/** Streams whose `open` succeeds (or fails when `down`), logging what happened to each. */
export class FakeStreams implements StreamFactory {
  down = false;
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
      stats: { callerFrames: 10, agentSamples: 0, playedSamples: 0, marksPlayed: 0, underruns: 2, badMessages: 1, dtmfIn: "", reconnects: 0 },
    };
    this.made.push(f);
    const streams = this;
    const stream = {
      stats: f.stats,
      async open(info: StreamInfo) {
        streams.order.push("pipeline:open");
        if (streams.down) throw new Error("connect ECONNREFUSED");
        f.opened.push(info);
      },
      close(reason: string) {
        f.closedWith.push(reason);
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

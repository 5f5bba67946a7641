import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { z } from "zod";
import { statusError, type CallAction, type CallRecord, type CallView, type ClusterMember, type ClusterTiming } from "./cluster.ts";
import type { ClusterKeys } from "./redis-keys.ts";
import type { RedisLiveness } from "./redis-liveness.ts";

const action: z.ZodType<CallAction> = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("hangup"), reason: z.string() }),
  z.object({ kind: z.literal("control"), verb: z.enum(["hold", "unhold", "mute", "unmute", "recording"]), action: z.enum(["start", "stop"]).optional() }),
  z.object({ kind: z.literal("dtmf"), digits: z.string() }),
  z.object({ kind: z.literal("transfer"), target: z.string(), mode: z.enum(["blind", "warm"]) }),
]);
const request = z.object({ id: z.string(), from: z.string(), callId: z.string(), action });
const reply = z.object({ id: z.string(), status: z.number(), message: z.string().optional(), view: z.record(z.string(), z.unknown()).optional() });

type Pending = { resolve(view: CallView): void; reject(err: Error): void; timer: NodeJS.Timeout };

/**
 * Call actions on a call another host owns, over Redis pub/sub: the request goes to the owner's
 * channel with a correlation id, the owner acts and publishes the outcome to the asker's reply
 * channel. Pub/sub needs no address or credentials between hosts, only the Redis they share.
 */
export class RedisRpc {
  private readonly pending = new Map<string, Pending>();
  private member: ClusterMember | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly keys: ClusterKeys,
    private readonly hostId: string,
    private readonly liveness: RedisLiveness,
    private readonly timing: ClusterTiming,
    private readonly log: Logger,
  ) {}

  async start(member: ClusterMember): Promise<void> {
    this.member = member;
    this.subscriber.on("message", (channel: string, message: string) => void this.onMessage(channel, message));
    await this.subscriber.subscribe(this.keys.requests(this.hostId), this.keys.replies(this.hostId));
  }

  /** Asks the owner; 503 when it is gone or not listening, 504 when it does not answer in time. */
  async forward(record: CallRecord, a: CallAction): Promise<CallView> {
    const owner = record.owner;
    const callId = record.view.id;
    if (!(await this.liveness.isAlive(owner))) throw statusError(503, `call ${callId} is on host ${owner}, which is gone (no heartbeat): its calls ended with it`);
    const id = randomUUID();
    const timeoutMs = a.kind === "transfer" ? this.timing.transferTimeoutMs : this.timing.forwardTimeoutMs;
    const answered = new Promise<CallView>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(statusError(504, `host ${owner}, which owns call ${callId}, did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
    const receivers = await this.redis.publish(this.keys.requests(owner), JSON.stringify({ id, from: this.hostId, callId, action: a })).catch((err: Error) => {
      this.settle(id);
      throw statusError(503, `cannot reach the cluster to forward the request to host ${owner}: ${err.message}`);
    });
    if (receivers === 0) {
      this.settle(id);
      throw statusError(503, `host ${owner}, which owns call ${callId}, is not listening: it is stopping or has lost Redis`);
    }
    return answered;
  }

  async stop(): Promise<void> {
    for (const [id, p] of this.pending) {
      this.settle(id);
      p.reject(statusError(503, "this host is stopping"));
    }
    await this.subscriber.unsubscribe().catch(() => {});
  }

  private settle(id: string): Pending | undefined {
    const p = this.pending.get(id);
    if (p) clearTimeout(p.timer);
    this.pending.delete(id);
    return p;
  }

  private async onMessage(channel: string, message: string): Promise<void> {
    // The subscriber carries other channels too (webhook events).
    if (channel !== this.keys.replies(this.hostId) && channel !== this.keys.requests(this.hostId)) return;
    let body: unknown;
    try {
      body = JSON.parse(message);
    } catch {
      return void this.log.warn({ channel }, "cluster: a message that is not JSON, ignored");
    }
    if (channel === this.keys.replies(this.hostId)) {
      const r = reply.safeParse(body);
      const p = r.success ? this.settle(r.data.id) : undefined;
      if (!r.success || !p) return;
      if (r.data.status === 200 && r.data.view) p.resolve(r.data.view as CallView);
      else p.reject(statusError(r.data.status, r.data.message ?? `host answered ${r.data.status}`));
      return;
    }
    const q = request.safeParse(body);
    if (!q.success || !this.member) return void this.log.warn({ channel }, "cluster: a malformed forwarded request, ignored");
    const { id, from, callId } = q.data;
    let answer: z.infer<typeof reply>;
    try {
      const view = await this.member.act(callId, q.data.action);
      answer = { id, status: 200, view };
    } catch (err) {
      const e = err as Error & { status?: number };
      answer = { id, status: e.status ?? 500, message: e.message };
    }
    this.log.info({ call: callId, from, action: q.data.action.kind, status: answer.status }, "cluster: forwarded action done");
    await this.redis.publish(this.keys.replies(from), JSON.stringify(answer)).catch((err: Error) => this.log.warn({ err: err.message, to: from }, "cluster: could not send the answer back"));
  }
}

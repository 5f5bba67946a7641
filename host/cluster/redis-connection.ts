import { Redis } from "ioredis";
import type { ClusterTiming } from "./cluster.ts";

/** Reconnect waits: 100 ms doubling to 2 s, for ever (a host keeps its calls and waits for Redis). */
export const RECONNECT_CAP_MS = 2000;

/** The URL as logs may show it: no password, no user. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username) u.username = "***";
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "***";
  }
}

/**
 * A client that fails fast instead of queueing: a command while Redis is away rejects at once
 * (no offline queue, no per-request retries), and one Redis does not answer within
 * `commandTimeoutMs` rejects too, so a claim never waits on a dead server (the call stays
 * ringing for another host). The connection itself is retried for ever by ioredis.
 */
export function openRedis(url: string, timing: ClusterTiming): Redis {
  return new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: timing.commandTimeoutMs,
    connectTimeout: timing.connectTimeoutMs,
    retryStrategy: (times) => Math.min(RECONNECT_CAP_MS, 100 * 2 ** Math.min(times - 1, 5)),
  });
}

/** Connects within the deadline, or stops trying and throws one line saying what to check. */
export async function connectWithin(redis: Redis, url: string, deadlineMs: number): Promise<void> {
  let lastError: Error | undefined;
  const onError = (err: Error) => (lastError = err);
  redis.on("error", onError);
  let timer: NodeJS.Timeout | undefined;
  try {
    const ready = new Promise<void>((resolve) => redis.once("ready", () => resolve()));
    // connect() rejects on the first failed attempt while ioredis goes on retrying: the deadline decides.
    redis.connect().catch((err: Error) => (lastError = err));
    const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), deadlineMs)));
    if ((await Promise.race([ready, late])) === "late") {
      redis.disconnect();
      const code = (lastError as NodeJS.ErrnoException | undefined)?.code ?? lastError?.message ?? "no answer";
      throw new Error(`cannot reach Redis at ${redactRedisUrl(url)} within ${deadlineMs} ms (${code}): check REDIS_URL and that Redis is running, or unset REDIS_URL to run this host on its own`);
    }
  } finally {
    clearTimeout(timer);
    redis.off("error", onError);
  }
}

/** Lua scripts defined on a client, run by name (ioredis sends EVALSHA, and the script when Redis lacks it). */
export type RunScript = (name: string, keys: readonly string[], args: ReadonlyArray<string | number>) => Promise<unknown>;

export function defineScripts(redis: Redis, scripts: Record<string, string>): RunScript {
  for (const [name, lua] of Object.entries(scripts)) redis.defineCommand(name, { lua });
  const commands = redis as unknown as Record<string, (...args: Array<string | number>) => Promise<unknown>>;
  return (name, keys, args) => commands[name](keys.length, ...keys, ...args);
}

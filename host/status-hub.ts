import type { Request, Response } from "express";
import { statusSnapshot, type StatusSource } from "./status-view.ts";

export interface StatusHubOptions {
  /** Event streams open at once; one more is a 503. */
  maxClients?: number;
  /** While calls are live: an update this often. */
  tickMs?: number;
  /** A comment this often, so proxies and browsers keep an idle stream open. */
  keepaliveMs?: number;
  /** How often the host's state and the ended calls (a recording saved after the end) are compared with what was sent. */
  checkMs?: number;
}

export const STATUS_MAX_CLIENTS = 16;
/** A client this far behind (bytes queued on its socket) is cut: it cannot hold memory without bound. */
const MAX_QUEUED_BYTES = 256 * 1024;
/** How long a stream's end may take to leave at shutdown. */
const CLOSE_WAIT_MS = 1000;

/**
 * The status page's event streams: one snapshot to each client as it connects, then one update
 * to all of them every tickMs while calls are live and at once on a call's change; while idle,
 * only a keepalive comment (and an update if the host's state changes). Timers run only while
 * some client is connected.
 */
export class StatusHub {
  private readonly clients = new Set<Response>();
  private readonly maxClients: number;
  private readonly tickMs: number;
  private readonly keepaliveMs: number;
  private readonly checkMs: number;
  private ticker: NodeJS.Timeout | undefined;
  private keepalive: NodeJS.Timeout | undefined;
  private checker: NodeJS.Timeout | undefined;
  private soon: NodeJS.Immediate | undefined;
  private closed = false;
  private lastHost = "";
  private lastEnded = "";
  /** Updates sent (tests and the bench count them). */
  sent = 0;

  constructor(
    private readonly source: StatusSource,
    opts: StatusHubOptions = {},
  ) {
    this.maxClients = opts.maxClients ?? STATUS_MAX_CLIENTS;
    this.tickMs = opts.tickMs ?? 400;
    this.keepaliveMs = opts.keepaliveMs ?? 15_000;
    this.checkMs = opts.checkMs ?? 1000;
    source.calls.onChange(() => {
      if (this.clients.size === 0 || this.soon) return;
      this.soon = setImmediate(() => {
        this.soon = undefined;
        this.broadcast();
      });
    });
  }

  get clientCount(): number {
    return this.clients.size;
  }

  add(req: Request, res: Response): void {
    if (this.closed) {
      return void res.status(503).json({ error: "unavailable", message: "the host is shutting down" });
    }
    if (this.clients.size >= this.maxClients) {
      return void res.status(503).setHeader("retry-after", "5").json({ error: "unavailable", message: `the status page has ${this.maxClients} viewers already; try again later` });
    }
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" });
    if (req.method === "HEAD") return void res.end();
    res.socket?.setNoDelay(true);
    const snap = statusSnapshot(this.source, true);
    res.write(`retry: 3000\n\nevent: snapshot\ndata: ${JSON.stringify(snap)}\n\n`);
    this.clients.add(res);
    const drop = () => this.remove(res);
    req.once("close", drop);
    res.once("close", drop);
    this.startTimers();
  }

  /**
   * The host's HTTP server is closing: each stream gets the last state (the calls hung up by the
   * stop) and a `closing` event, then ends; no stream is taken after this. Settles once every
   * stream's end reached its socket; a client that does not read is cut after CLOSE_WAIT_MS.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.broadcast();
    this.write("event: closing\ndata: {}\n\n");
    const ends = [...this.clients].map((res) => {
      this.remove(res);
      return new Promise<void>((resolve) => {
        const cut = setTimeout(() => (res.destroy(), resolve()), CLOSE_WAIT_MS);
        res.end(() => (clearTimeout(cut), resolve()));
        res.once("close", () => (clearTimeout(cut), resolve()));
      });
    });
    await Promise.all(ends);
  }

  private remove(res: Response): void {
    if (!this.clients.delete(res)) return;
    if (this.clients.size === 0) this.stopTimers();
  }

  private startTimers(): void {
    this.keepalive ??= setInterval(() => this.write(": keepalive\n\n"), this.keepaliveMs).unref();
    this.checker ??= setInterval(() => this.check(), this.checkMs).unref();
    this.tick();
  }

  private stopTimers(): void {
    clearInterval(this.keepalive);
    clearInterval(this.checker);
    clearInterval(this.ticker);
    if (this.soon) clearImmediate(this.soon);
    this.keepalive = this.checker = this.ticker = this.soon = undefined;
    this.lastHost = this.lastEnded = "";
  }

  /** Runs the update timer while calls are live, stops it when they are over. */
  private tick(): void {
    const live = this.source.calls.active().length > 0;
    if (live && !this.ticker && this.clients.size > 0) this.ticker = setInterval(() => this.broadcast(), this.tickMs).unref();
    else if (!live && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  /** Idle: sends an update only when the host's state or the ended calls differ from what was sent. */
  private check(): void {
    if (this.ticker) return;
    const snap = statusSnapshot(this.source, true);
    if (JSON.stringify(snap.host) !== this.lastHost || JSON.stringify(snap.ended) !== this.lastEnded) this.broadcast();
  }

  private broadcast(): void {
    if (this.clients.size === 0) return;
    const snap = statusSnapshot(this.source, true);
    const host = JSON.stringify(snap.host);
    const ended = JSON.stringify(snap.ended);
    // The ended list goes out only when it changed: the update while calls are live stays small.
    if (ended === this.lastEnded) delete snap.ended;
    this.lastHost = host;
    this.lastEnded = ended;
    this.sent++;
    this.write(`event: update\ndata: ${JSON.stringify(snap)}\n\n`);
    this.tick();
  }

  private write(chunk: string): void {
    for (const res of this.clients) {
      if (res.writableLength > MAX_QUEUED_BYTES) {
        res.destroy();
        this.remove(res);
      } else res.write(chunk);
    }
  }
}

import { randomBytes } from "node:crypto";
import type { IncomingMessage, Server } from "node:http";
import { EventEmitter } from "node:events";
import { WebSocketServer, type WebSocket } from "ws";
import type { Logger } from "pino";
import { createBoundedServer, guardSocket, refuseSocket } from "./http-bounds.ts";
import { parsePageEvent } from "./page-events.ts";
import { DOWN_HEADER_BYTES, MediaKind, UP_HEADER_BYTES, newCallerHeader, newFastHeader, readCallerHeader, readFastHeader, writeDownHeader, type CallerFrameHeader, type FastFrameHeader } from "./page-frames.ts";
import type { Command, PageEvent } from "./page-protocol.ts";
import { secretEquals } from "./secret-equal.ts";

/**
 * A caller frame's PCM. ws may hand out a Buffer at an odd offset in a pooled ArrayBuffer: copy
 * only then. A trailing odd byte is no sample (copied whole, it made Int16Array throw).
 */
function callerPcm(data: Buffer): Int16Array {
  const at = data.byteOffset + UP_HEADER_BYTES;
  const n = (data.byteLength - UP_HEADER_BYTES) >> 1;
  if (at % 2 === 0) return new Int16Array(data.buffer, at, n);
  const pcm = new Int16Array(n);
  data.copy(new Uint8Array(pcm.buffer), 0, UP_HEADER_BYTES, UP_HEADER_BYTES + 2 * n);
  return pcm;
}

/** The page's scripts by file name (browser/build.ts makes them). */
export type PageBundle = Readonly<Record<string, string>>;

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
export type RequestCommand = DistributiveOmit<Extract<Command, { requestId: string }>, "requestId">;

/** `header` is reused for the next frame: read it, do not keep it. */
export type CallerFrameHandler = (header: CallerFrameHeader, pcm: Int16Array) => void;
/** `header` is reused for the next frame: read it, do not keep it. */
export type FastFrameHandler = (header: FastFrameHeader, pcm: Int16Array) => void;

export type PageEventOf<T extends PageEvent["type"]> = Extract<PageEvent, { type: T }>;

/** What call logic needs of the page: commands answered by the page, and its events. */
export interface PageCommands {
  request(cmd: RequestCommand, timeoutMs?: number, requestId?: string): Promise<void>;
  newRequestId(): string;
  waitFor<T extends PageEvent["type"]>(types: T[], timeoutMs: number, what: string, where?: (e: PageEventOf<T>) => boolean): Promise<PageEventOf<T>>;
}

interface LinkEvents {
  event: [PageEvent];
  /** The page's control socket closed: the page crashed or navigated. */
  disconnected: [];
}

/**
 * The host's end of the page link: a loopback-only HTTP server that serves the page and its two
 * WebSockets, guarded by a per-launch token so nothing else on the machine can join a call.
 */
export class PageLink extends EventEmitter<LinkEvents> implements PageCommands {
  private control: WebSocket | undefined;
  private media: WebSocket | undefined;
  private readonly token = randomBytes(24).toString("base64url");
  private readonly handlers: Array<CallerFrameHandler | undefined> = [];
  private readonly fastHandlers: Array<FastFrameHandler | undefined> = [];
  private readonly pending = new Map<string, { resolve(): void; reject(err: Error): void; timer: NodeJS.Timeout }>();
  private nextRequest = 0;
  private server: Server | undefined;
  private port = 0;
  private readonly header = newCallerHeader();
  private readonly fastHeader = newFastHeader();
  /** Frames from a slot nobody listens to (a call that just ended): counted, not an error. */
  strayFrames = 0;
  /** Control messages that were not a well-formed page event: logged and dropped. */
  rejectedMessages = 0;

  private bundle: Promise<PageBundle> = Promise.resolve({});

  constructor(private readonly log: Logger) {
    super();
    // Every waitFor() listens while it waits: concurrent calls may hold dozens at once.
    this.setMaxListeners(0);
  }

  get pageUrl(): string {
    return `http://127.0.0.1:${this.port}/?token=${this.token}`;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /**
   * Serves `bundle` on a free loopback port. It may still be building: Chrome can start at once,
   * and its request for a script waits for the bundle (a failed build answers 500).
   */
  async listen(bundle: PageBundle | Promise<PageBundle>): Promise<void> {
    this.bundle = Promise.resolve(bundle);
    this.bundle.catch(() => {});
    const server = createBoundedServer((req, res) => {
      if (req.method !== "GET" && req.method !== "HEAD") return void res.writeHead(405, { allow: "GET, HEAD" }).end();
      const path = (req.url ?? "/").split("?")[0];
      const file = path.slice(1);
      if (path === "/") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
        res.end('<!doctype html><meta charset="utf-8"><title>rc-voice-host</title><script src="/page.js"></script>');
        return;
      }
      this.bundle.then(
        (files) => {
          if (!Object.hasOwn(files, file)) return void res.writeHead(404).end();
          const type = file.endsWith(".map") ? "application/json" : "text/javascript; charset=utf-8";
          res.writeHead(200, { "content-type": type, "cache-control": "no-store" });
          res.end(files[file]);
        },
        () => void res.writeHead(500).end(),
      );
    });
    const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
    server.on("upgrade", (req, socket, head) => {
      guardSocket(socket);
      const kind = this.authorize(req);
      if (kind === "malformed") return refuseSocket(socket, 400, "Bad Request");
      if (!kind) return refuseSocket(socket, 403, "Forbidden");
      wss.handleUpgrade(req, socket, head, (ws) => (kind === "control" ? this.onControl(ws) : this.onMedia(ws)));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
  }

  private authorize(req: IncomingMessage): "control" | "media" | "malformed" | undefined {
    // Any local process can send any request target: one that is no path must not throw.
    let url: URL;
    try {
      if (!req.url?.startsWith("/")) return "malformed";
      url = new URL(req.url, "http://127.0.0.1");
    } catch {
      return "malformed";
    }
    if (!secretEquals(url.searchParams.get("token") ?? undefined, this.token)) return undefined;
    if (url.pathname === "/page/control") return "control";
    if (url.pathname === "/page/media") return "media";
    return undefined;
  }

  private connectWaiters: Array<() => void> = [];

  /** Resolves once the page's control socket is open; rejects after timeoutMs. */
  whenConnected(timeoutMs: number): Promise<void> {
    if (this.control?.readyState === 1) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.connectWaiters = this.connectWaiters.filter((w) => w !== done);
        reject(new Error(`the page did not connect to the host within ${timeoutMs} ms`));
      }, timeoutMs);
      this.connectWaiters.push(done);
    });
  }

  /**
   * The next page event of these types (and matching `where`); rejects after timeoutMs. The one
   * way to wait for the page: command results come through request(), everything else here.
   */
  waitFor<T extends PageEvent["type"]>(types: T[], timeoutMs: number, what: string, where: (e: PageEventOf<T>) => boolean = () => true): Promise<PageEventOf<T>> {
    return new Promise((resolve, reject) => {
      const listener = (e: PageEvent) => {
        if (!(types as string[]).includes(e.type) || !where(e as PageEventOf<T>)) return;
        this.off("event", listener);
        clearTimeout(timer);
        resolve(e as PageEventOf<T>);
      };
      const timer = setTimeout(() => {
        this.off("event", listener);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.on("event", listener);
    });
  }

  private onControl(ws: WebSocket): void {
    this.control?.close(4000, "replaced");
    this.control = ws;
    for (const w of this.connectWaiters.splice(0)) w();
    // Protocol errors (bad frames, a message over maxPayload): ws closes the socket itself (1002, 1009…).
    ws.on("error", (err) => this.log.warn({ err: err.message }, "page link: control socket error"));
    ws.on("message", (data: Buffer, isBinary) => {
      const event = this.parseControl(data, isBinary);
      if (!event) return;
      if (event.type === "result") {
        const p = this.pending.get(event.requestId);
        if (p) {
          this.pending.delete(event.requestId);
          clearTimeout(p.timer);
          if (event.ok) p.resolve();
          else p.reject(new Error(event.error ?? "page command failed"));
        }
      }
      try {
        this.emit("event", event);
      } catch (err) {
        // An event one handler cannot take must not take the host down with it.
        this.log.error({ err: (err as Error).message, type: event.type }, "page link: event handler failed");
      }
    });
    ws.on("close", () => {
      if (this.control !== ws) return;
      this.control = undefined;
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new Error("page disconnected"));
        this.pending.delete(id);
      }
      this.emit("disconnected");
    });
  }

  /** A well-formed page event, or undefined (logged: the first 5, then every 100th). */
  private parseControl(data: Buffer, isBinary: boolean): PageEvent | undefined {
    let parsed: ReturnType<typeof parsePageEvent>;
    try {
      parsed = isBinary ? { problem: "a binary message on the control socket" } : parsePageEvent(JSON.parse(data.toString()));
    } catch {
      parsed = { problem: "not JSON" };
    }
    if ("event" in parsed) return parsed.event;
    this.rejectedMessages++;
    if (this.rejectedMessages <= 5 || this.rejectedMessages % 100 === 0) this.log.warn({ problem: parsed.problem, count: this.rejectedMessages }, "page link: control message rejected");
    return undefined;
  }

  private onMedia(ws: WebSocket): void {
    this.media?.close(4000, "replaced");
    this.media = ws;
    ws.on("error", (err) => this.log.warn({ err: err.message }, "page link: media socket error"));
    ws.on("message", (data: Buffer, isBinary) => {
      if (!isBinary) return;
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      const header = this.header;
      const fast = this.fastHeader;
      if (readCallerHeader(view, header)) {
        const handler = this.handlers[header.slot];
        if (handler) handler(header, callerPcm(data));
        else this.strayFrames++;
      } else if (readFastHeader(view, fast)) {
        const handler = this.fastHandlers[fast.slot];
        if (handler) handler(fast, callerPcm(data));
        else this.strayFrames++;
      }
    });
    ws.on("close", () => {
      if (this.media === ws) this.media = undefined;
    });
  }

  onCallerFrames(slot: number, handler: CallerFrameHandler | undefined): void {
    this.handlers[slot] = handler;
  }

  /** The slot's fast uplink frames (UPLINK=fast): the caller's audio decoded from RTP. */
  onFastFrames(slot: number, handler: FastFrameHandler | undefined): void {
    this.fastHandlers[slot] = handler;
  }

  send(cmd: Command): void {
    if (this.control?.readyState !== 1) throw new Error("page is not connected");
    this.control.send(JSON.stringify(cmd));
  }

  /** A fresh id for request(), for callers that must match the page's events to their command. */
  newRequestId(): string {
    return `r${++this.nextRequest}`;
  }

  /** Sends a command and waits for the page's result. */
  request(cmd: RequestCommand, timeoutMs = 15000, requestId = this.newRequestId()): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new Error(`page did not answer ${cmd.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(requestId, { resolve, reject, timer });
      try {
        this.send({ ...cmd, requestId } as Command);
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(requestId);
        reject(err as Error);
      }
    });
  }

  /** A host → page header, stamped here and copied into each frame (no view per frame). */
  private readonly downHeader = Buffer.alloc(DOWN_HEADER_BYTES);
  private readonly downView = new DataView(this.downHeader.buffer, this.downHeader.byteOffset, DOWN_HEADER_BYTES);
  /** Per slot, bytes of the buffer its last agent frame lived in: playout reuses one, so this is made once per call. */
  private readonly agentBytes: Array<Buffer | undefined> = [];

  /**
   * Queues agent audio for a slot (PCM16 at the page's rate), copied: `pcm` may be reused. The
   * frame itself must be new (ws keeps it until written); one this small comes from Node's pool.
   */
  sendAgent(slot: number, pcm: Int16Array): void {
    const buf = Buffer.allocUnsafe(DOWN_HEADER_BYTES + pcm.byteLength);
    writeDownHeader(this.downView, MediaKind.Agent, slot);
    this.downHeader.copy(buf, 0);
    let bytes = this.agentBytes[slot];
    if (bytes?.buffer !== pcm.buffer) bytes = this.agentBytes[slot] = Buffer.from(pcm.buffer as ArrayBuffer);
    bytes.copy(buf, DOWN_HEADER_BYTES, pcm.byteOffset, pcm.byteOffset + pcm.byteLength);
    this.media?.send(buf);
  }

  sendSlotCommand(slot: number, kind: MediaKind.Clear): void {
    const buf = Buffer.alloc(DOWN_HEADER_BYTES);
    writeDownHeader(this.downView, kind, slot);
    this.downHeader.copy(buf, 0);
    this.media?.send(buf);
  }

  get controlConnected(): boolean {
    return this.control?.readyState === 1;
  }

  get mediaConnected(): boolean {
    return this.media?.readyState === 1;
  }

  async close(): Promise<void> {
    this.control?.terminate();
    this.media?.terminate();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

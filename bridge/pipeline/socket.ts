import WebSocket from "ws";

/**
 * The largest message the host takes from a pipeline: a minute of the widest stream, base64 included
 * (48 kHz PCM16 is 5.76 MB a minute raw; 24 kHz L16 in a Twilio envelope 3.84 MB). TTS may send a
 * whole reply at once; anything bigger is a bug, and would be held in memory whole.
 */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;
/** A ping this often; a pipeline heard from neither by pong nor by message for PONG_TIMEOUT_MS is half-open. */
export const PING_INTERVAL_MS = 5_000;
export const PONG_TIMEOUT_MS = 10_000;
/** Caller audio waiting unsent beyond this (a pipeline that reads too slowly) is dropped, not queued without end. */
export const SEND_BACKLOG_MS = 3_000;
/** How long a closing handshake may take before the socket is cut (ws waits 30 s by default). */
const CLOSE_TIMEOUT_MS = 5_000;
/** Every protocol sends the caller's audio in 20 ms frames. */
const FRAME_MS = 20;

export interface PipelineOptions {
  url: string;
  connectTimeoutMs: number;
  /** Sent with the upgrade (openai-realtime's Authorization): never logged. */
  headers?: Record<string, string>;
  /** Heartbeat (defaults PING_INTERVAL_MS, PONG_TIMEOUT_MS); tests shorten them. */
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
}

/** How a connection ended that the host did not close. */
export type DropKind = "closed" | "unresponsive" | "too-big";

export interface PipelineDrop {
  kind: DropKind;
  code: number;
  reason: string;
}

export interface SocketHandlers {
  onMessage(data: Buffer, isBinary: boolean): void;
  /** The connection ended, not by us. */
  onDropped(drop: PipelineDrop): void;
}

/** The URL as logs may show it: no user info, no query (pipelines put tokens there). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? "?…" : ""}`;
  } catch {
    return "(invalid URL)";
  }
}

/**
 * One WebSocket to the pipeline, every protocol's: dialled within the connect timeout, watched
 * for silence (ping/pong), bounded both ways (message size in, audio backlog out), and closed
 * exactly once whatever stage the call is at. A close while dialling abandons the dial, so a
 * stream the host no longer wants is never started.
 */
export class PipelineSocket {
  private ws: WebSocket | undefined;
  private closing = false;
  private readonly dial = new AbortController();
  private dropKind: DropKind = "closed";
  private lastHeardMs = 0;
  private pingSentMs: number | undefined;
  /** The last ping's round trip (ms): the network and the pipeline's event loop, queued audio included. */
  rttMs: number | undefined;
  private pinger: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    private readonly opts: PipelineOptions,
    private readonly on: SocketHandlers,
  ) {}

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Dials; rejects when the pipeline cannot be reached in time, or when close() ran meanwhile. */
  async open(): Promise<void> {
    if (this.closing) throw new Error("the stream closed before the pipeline was dialled");
    const ws = await this.connect();
    // close() may land between the socket opening and this continuation: then start nothing.
    if (this.closing) {
      ws.close(1000, "stream closed while dialling");
      throw new Error("the stream closed while the pipeline was dialled");
    }
    this.ws = ws;
    this.lastHeardMs = performance.now();
    // One ping at once: the round trip is known from the stream's start, not a ping interval later.
    const ping = () => {
      this.pingSentMs = performance.now();
      ws.ping();
    };
    ping();
    this.pinger = setInterval(ping, this.opts.pingIntervalMs ?? PING_INTERVAL_MS);
    this.watch(this.opts.pongTimeoutMs ?? PONG_TIMEOUT_MS);
  }

  /** Control messages: sent whenever the socket is open. */
  send(data: string | Uint8Array): void {
    if (this.isOpen) this.ws!.send(data);
  }

  /**
   * One 20 ms frame of caller audio. Returns false when it was dropped because more than
   * SEND_BACKLOG_MS of audio already waits unsent (the pipeline reads too slowly).
   */
  sendAudio(data: string | Uint8Array): boolean {
    if (!this.isOpen) return true;
    const ws = this.ws!;
    if (ws.bufferedAmount > (SEND_BACKLOG_MS / FRAME_MS) * data.length) return false;
    ws.send(data);
    return true;
  }

  /** Sends `last` (the protocol's stop) if the stream is open, then closes with 1000. Safe at any stage, once. */
  close(reason: string, last?: string): void {
    if (this.closing) return;
    this.closing = true;
    this.dial.abort();
    this.stopWatching();
    if (!this.ws) return;
    if (last !== undefined) this.send(last);
    this.ws.close(1000, reason.slice(0, 120));
  }

  private connect(): Promise<WebSocket> {
    const { url, connectTimeoutMs } = this.opts;
    const shown = redactUrl(url);
    return new Promise((resolve, reject) => {
      // closeTimeout exists in ws ≥ 8.19, not yet in @types/ws.
      const ws = new WebSocket(url, { handshakeTimeout: connectTimeoutMs, perMessageDeflate: false, maxPayload: MAX_MESSAGE_BYTES, closeTimeout: CLOSE_TIMEOUT_MS, headers: this.opts.headers } as WebSocket.ClientOptions);
      const abandon = () => ws.terminate();
      const settle = () => {
        clearTimeout(timer);
        this.dial.signal.removeEventListener("abort", abandon);
      };
      this.dial.signal.addEventListener("abort", abandon, { once: true });
      // Attached before the socket opens: a pipeline may speak the moment it accepts.
      ws.on("message", (data: Buffer, isBinary) => {
        this.lastHeardMs = performance.now();
        this.on.onMessage(data, isBinary);
      });
      ws.on("pong", () => {
        this.lastHeardMs = performance.now();
        if (this.pingSentMs !== undefined) this.rttMs = Math.round(this.lastHeardMs - this.pingSentMs);
        this.pingSentMs = undefined;
      });
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`pipeline ${shown} did not answer within ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
      ws.once("open", () => {
        settle();
        ws.on("close", (code, why) => this.onClose(code, why.toString()));
        // Frames are small and frequent: never wait to coalesce them.
        (ws as unknown as { _socket?: { setNoDelay?(v: boolean): void } })._socket?.setNoDelay?.(true);
        resolve(ws);
      });
      // A refusal (401 for a wrong key) carries its status, so the profile can say what to fix.
      ws.once("unexpected-response", (req, res) => {
        settle();
        res.resume();
        req.destroy();
        reject(Object.assign(new Error(`pipeline ${shown} refused the connection: HTTP ${res.statusCode}`), { status: res.statusCode }));
      });
      ws.on("error", (err: Error & { code?: string }) => {
        settle();
        // ws answers a message over maxPayload by closing with 1009 itself; the close follows.
        if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") this.dropKind = "too-big";
        if (this.dial.signal.aborted) reject(new Error("the stream closed while the pipeline was dialled"));
        else reject(new Error(`pipeline ${shown} unreachable: ${err.message}`));
      });
    });
  }

  /** Fires when nothing came for `timeoutMs`; re-arms for the remainder otherwise (one timer per timeout, not per message). */
  private watch(timeoutMs: number): void {
    const check = () => {
      const silentMs = performance.now() - this.lastHeardMs;
      if (silentMs < timeoutMs) return void (this.watchdog = setTimeout(check, timeoutMs - silentMs));
      this.dropKind = "unresponsive";
      this.ws?.terminate();
    };
    this.watchdog = setTimeout(check, timeoutMs);
  }

  private stopWatching(): void {
    clearInterval(this.pinger);
    clearTimeout(this.watchdog);
  }

  private onClose(code: number, reason: string): void {
    this.stopWatching();
    if (this.closing) return;
    const kind = this.dropKind;
    const why = kind === "unresponsive" ? `no pong or message for ${this.opts.pongTimeoutMs ?? PONG_TIMEOUT_MS} ms` : kind === "too-big" ? `a message over ${MAX_MESSAGE_BYTES} bytes` : reason;
    this.on.onDropped({ kind, code, reason: why });
  }
}

import WebSocket from "ws";
import type { PipelineOptions } from "./session.ts";

export interface DialHandlers {
  onMessage(data: Buffer, isBinary: boolean): void;
  onClose(code: number, reason: string): void;
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
 * Opens the pipeline's WebSocket, or rejects with a clear reason within connectTimeoutMs.
 * Handlers are attached before the socket opens: a pipeline may speak the moment it accepts.
 */
export function dialPipeline(opts: PipelineOptions, handlers: DialHandlers): Promise<WebSocket> {
  const shown = redactUrl(opts.url);
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(opts.url, { handshakeTimeout: opts.connectTimeoutMs, perMessageDeflate: false });
    ws.on("message", (data: Buffer, isBinary) => handlers.onMessage(data, isBinary));
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`pipeline ${shown} did not answer within ${opts.connectTimeoutMs} ms`));
    }, opts.connectTimeoutMs);
    ws.once("open", () => {
      clearTimeout(timer);
      ws.on("close", (code, reason) => handlers.onClose(code, reason.toString()));
      // Frames are small and frequent: never wait to coalesce them.
      (ws as unknown as { _socket?: { setNoDelay?(v: boolean): void } })._socket?.setNoDelay?.(true);
      resolve(ws);
    });
    ws.on("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`pipeline ${shown} unreachable: ${err.message}`));
    });
  });
}

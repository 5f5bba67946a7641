import WebSocket from "ws";
import type { PipelineOptions } from "./session.ts";

/** Opens the pipeline's WebSocket, or rejects with a clear reason within connectTimeoutMs. */
export function dialPipeline(opts: PipelineOptions, protocols?: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(opts.url, protocols, { handshakeTimeout: opts.connectTimeoutMs, perMessageDeflate: false });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`pipeline ${opts.url} did not answer within ${opts.connectTimeoutMs} ms`));
    }, opts.connectTimeoutMs);
    ws.once("open", () => {
      clearTimeout(timer);
      // Frames are small and frequent: never wait to coalesce them.
      (ws as unknown as { _socket?: { setNoDelay?(v: boolean): void } })._socket?.setNoDelay?.(true);
      resolve(ws);
    });
    ws.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`pipeline ${opts.url} unreachable: ${err.message}`));
    });
  });
}

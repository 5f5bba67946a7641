/**
 * Raw HTTP over net.Socket, for requests no HTTP client will send: malformed request lines and
 * targets, smuggling-shaped headers, garbage bytes, and clients that reset or go quiet mid-request.
 */
import { connect } from "node:net";

export type RawEnding = "end" | "reset" | "wait";

export interface RawReply {
  /** The status of the first response, or undefined if the server closed without one. */
  status: number | undefined;
  /** Everything the server sent. */
  text: string;
  /** The server closed the connection (or reset it) before `waitMs` ran out. */
  closed: boolean;
}

/**
 * Sends `bytes`, then: `end` half-closes (FIN) and reads until the server closes; `reset` sends a
 * RST at once (the server may be writing its answer); `wait` keeps the socket open, reading.
 * Resolves once the server has closed, or after `waitMs` (then `closed` is false).
 */
export function rawRequest(port: number, bytes: string | Uint8Array, ending: RawEnding, waitMs: number): Promise<RawReply> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const socket = connect(port, "127.0.0.1");
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString("latin1");
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : undefined, text, closed });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on("connect", () => {
      socket.write(bytes);
      if (ending === "end") socket.end();
      if (ending === "reset") {
        socket.resetAndDestroy();
        finish(true);
      }
    });
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
  });
}

/** Statuses from the first response line of every response in `text` (keep-alive may hold several). */
export function statusesIn(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
}

/**
 * What every HTTP server of the product (the host's API port, the page link) does about clients
 * that misbehave: bounded time to send a request (slow-loris), bounded idle keep-alive, a clear
 * answer for CONNECT and for upgrades it refuses, and no socket error left to crash the process.
 */
import { createServer, type RequestListener, type Server } from "node:http";
import type { Duplex } from "node:stream";

export const HTTP_TIMEOUTS = {
  /** The request line and headers must arrive within this (Node's default is 60 s). */
  headersMs: 10_000,
  /** The whole request, body included (bodies here are at most 256 KB). Handling time is not counted. */
  requestMs: 30_000,
  /** An idle keep-alive connection is closed after this. */
  keepAliveMs: 5_000,
  /** How often Node checks the two above (its default, 30 s, would let a client hold a socket 40 s). */
  checkEveryMs: 1_000,
} as const;

export type HttpTimeouts = { [K in keyof typeof HTTP_TIMEOUTS]: number };

/** An HTTP server with the bounds above (tests may shorten them). */
export function createBoundedServer(handler: RequestListener, timeouts: Partial<HttpTimeouts> = {}): Server {
  const t = { ...HTTP_TIMEOUTS, ...timeouts };
  const server = createServer(
    { headersTimeout: t.headersMs, requestTimeout: t.requestMs, keepAliveTimeout: t.keepAliveMs, connectionsCheckingInterval: t.checkEveryMs },
    handler,
  );
  // Nothing here is a proxy: without a listener Node would drop the socket without a word.
  server.on("connect", (_req, socket: Duplex) => refuseSocket(socket, 405, "Method Not Allowed"));
  return server;
}

/**
 * Answers a socket Node has handed over (an upgrade or CONNECT) with a bare status and closes it.
 * Node removes its own error handler from such sockets: without one, a client that resets the
 * connection mid-answer (ECONNRESET, EPIPE) would be an uncaught 'error' event.
 */
export function refuseSocket(socket: Duplex, status: number, text: string): void {
  guardSocket(socket);
  if (!socket.writable) return void socket.destroy();
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  // A client that never reads must not hold the socket open.
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** A socket error from a client is the client's problem: the socket is dropped, the process goes on. */
export function guardSocket(socket: Duplex): void {
  if (!socket.listeners("error").includes(dropOnError)) socket.on("error", dropOnError);
}

function dropOnError(this: Duplex): void {
  this.destroy();
}

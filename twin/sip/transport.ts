import type { IncomingMessage } from "node:http";
import { createServer, type Server } from "node:https";
import selfsigned from "selfsigned";
import { WebSocketServer, type WebSocket } from "ws";
import type { Logger } from "pino";
import { parseSip, serializeSip, type SipMessage } from "./message.ts";

/** TLS for the SIP WebSocket: the WebPhone hard-codes wss://, so the twin makes a certificate at start. */
async function selfSignedCert(): Promise<{ key: string; cert: string }> {
  const pems = await selfsigned.generate([{ name: "commonName", value: "127.0.0.1" }], {
    days: 30,
    keySize: 2048,
    extensions: [{ name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }, { type: 2, value: "localhost" }] }],
  } as never);
  return { key: pems.private, cert: pems.cert };
}

/** Which of sipInfo's two outbound proxies a socket came in on. */
export type SipProxyName = "primary" | "backup";

export interface SipConnection {
  id: number;
  readonly proxy: SipProxyName;
  /** "127.0.0.1:PORT" of the client. */
  readonly remote: string;
  readonly connectedAtMs: number;
  send(msg: SipMessage): void;
  /** A clean WebSocket close (close frame with this code; default 1000). */
  close(code?: number, reason?: string): void;
  /** An abrupt end: the TCP socket is destroyed, no close frame (the peer sees 1006). */
  terminate(): void;
  readonly open: boolean;
}

/**
 * Whether a new WebSocket may connect: `accept`, or refused as an outage looks (faults):
 * `503` answers the upgrade `HTTP/1.1 503`, `close` accepts then closes 1013, `reset` destroys
 * the TCP socket before any answer.
 */
export type Admission = { kind: "accept" } | { kind: "503"; retryAfterS?: number } | { kind: "close" } | { kind: "reset" };

export interface SipTransportHandlers {
  onMessage(conn: SipConnection, msg: SipMessage, raw: string): void;
  onClose(conn: SipConnection): void;
  onOutgoing(conn: SipConnection, msg: SipMessage, raw: string): void;
  admit?(proxy: SipProxyName): Admission;
  /** Connection ids, unique across both proxies. */
  nextConnectionId(): number;
}

export interface SipTransport {
  port: number;
  /** Open SIP sockets, oldest first. */
  connections(): SipConnection[];
  close(): Promise<void>;
}

/** SIP over secure WebSocket, subprotocol `sip`, one message per text frame (RFC 7118). */
export async function startSipTransport(
  proxy: SipProxyName,
  port: number,
  host: string,
  handlers: SipTransportHandlers,
  log: Logger,
): Promise<SipTransport> {
  const server: Server = createServer(await selfSignedCert());
  const admissions = new WeakMap<IncomingMessage, Admission>();
  const wss = new WebSocketServer({
    server,
    handleProtocols: (protocols) => (protocols.has("sip") ? "sip" : false),
    verifyClient: (info: { req: IncomingMessage }, done: (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void) => {
      const admission = handlers.admit?.(proxy) ?? { kind: "accept" };
      if (admission.kind !== "accept") log.info({ proxy, admission: admission.kind }, "sip: connection refused (fault)");
      if (admission.kind === "503") return done(false, 503, "Service Unavailable", admission.retryAfterS ? { "Retry-After": String(admission.retryAfterS) } : {});
      // No answer at all: the upgrade request meets a dead socket.
      if (admission.kind === "reset") return void info.req.socket.destroy();
      admissions.set(info.req, admission);
      done(true);
    },
  });
  const open = new Set<SipConnection>();
  // ws re-emits the HTTPS server's errors (EADDRINUSE at listen) on the WebSocketServer: without a
  // listener that is an uncaught 'error' that kills the process instead of rejecting below.
  wss.on("error", (err) => log.debug({ err: err.message }, "sip: server error"));
  wss.on("connection", (ws: WebSocket, req: IncomingMessage) => {
    const conn: SipConnection = {
      id: handlers.nextConnectionId(),
      proxy,
      remote: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
      connectedAtMs: Date.now(),
      get open() {
        return ws.readyState === ws.OPEN;
      },
      send(msg) {
        const raw = serializeSip(msg);
        handlers.onOutgoing(conn, msg, raw);
        if (ws.readyState === ws.OPEN) ws.send(raw);
      },
      close: (code = 1000, reason) => ws.close(code, reason),
      terminate: () => ws.terminate(),
    };
    if (ws.protocol !== "sip") {
      ws.close(1002, "subprotocol sip required");
      return;
    }
    if (admissions.get(req)?.kind === "close") {
      ws.close(1013, "Try Again Later");
      return;
    }
    open.add(conn);
    ws.on("message", (data, isBinary) => {
      const raw = data.toString();
      let msg: SipMessage;
      try {
        msg = parseSip(raw);
      } catch (err) {
        log.warn({ conn: conn.id, err: (err as Error).message, isBinary }, "sip: unparsable message dropped");
        return;
      }
      try {
        handlers.onMessage(conn, msg, raw);
      } catch (err) {
        log.error({ conn: conn.id, err: (err as Error).message }, "sip: handler failed");
      }
    });
    ws.on("close", () => {
      open.delete(conn);
      handlers.onClose(conn);
    });
    ws.on("error", (err) => log.warn({ conn: conn.id, err: err.message }, "sip: socket error"));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : port,
    connections: () => [...open].filter((c) => c.open),
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

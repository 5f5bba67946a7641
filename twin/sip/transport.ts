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

export interface SipConnection {
  id: number;
  send(msg: SipMessage): void;
  close(): void;
  readonly open: boolean;
}

export interface SipTransportHandlers {
  onMessage(conn: SipConnection, msg: SipMessage, raw: string): void;
  onClose(conn: SipConnection): void;
  onOutgoing(conn: SipConnection, msg: SipMessage, raw: string): void;
}

/** SIP over secure WebSocket, subprotocol `sip`, one message per text frame (RFC 7118). */
export async function startSipTransport(
  port: number,
  host: string,
  handlers: SipTransportHandlers,
  log: Logger,
): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer(await selfSignedCert());
  const wss = new WebSocketServer({
    server,
    handleProtocols: (protocols) => (protocols.has("sip") ? "sip" : false),
  });
  // ws re-emits the HTTPS server's errors (EADDRINUSE at listen) on the WebSocketServer: without a
  // listener that is an uncaught 'error' that kills the process instead of rejecting below.
  wss.on("error", (err) => log.debug({ err: err.message }, "sip: server error"));
  let nextId = 0;
  wss.on("connection", (ws: WebSocket) => {
    const conn: SipConnection = {
      id: ++nextId,
      get open() {
        return ws.readyState === ws.OPEN;
      },
      send(msg) {
        const raw = serializeSip(msg);
        handlers.onOutgoing(conn, msg, raw);
        if (ws.readyState === ws.OPEN) ws.send(raw);
      },
      close: () => ws.close(1000),
    };
    if (ws.protocol !== "sip") {
      ws.close(1002, "subprotocol sip required");
      return;
    }
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
    ws.on("close", () => handlers.onClose(conn));
    ws.on("error", (err) => log.warn({ conn: conn.id, err: err.message }, "sip: socket error"));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

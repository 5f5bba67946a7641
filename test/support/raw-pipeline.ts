/**
 * A pipeline server for tests that must reach into the connection itself: it can hold WebSocket
 * upgrades (to land a hang-up mid-dial), stop answering pings, and stop reading. It records every
 * upgrade's TCP socket and every connection's messages and close.
 */
import { createServer, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";

export interface HeldUpgrade {
  /** The TCP socket closed (the host gave up on the dial). */
  closed: boolean;
  /** Completes the handshake now (does nothing useful if the host has gone). */
  complete(): void;
}

export interface RawConnection {
  ws: WebSocket;
  /** Text messages, parsed as JSON where they are. */
  messages: Array<Record<string, unknown>>;
  binaryMessages: number;
  pings: number;
  openedAtMs: number;
  closed?: { code: number; reason: string; atMs: number };
}

export async function startRawPipeline(opts: { autoPong?: boolean } = {}) {
  const http = createServer();
  const wss = new WebSocketServer({ noServer: true, autoPong: opts.autoPong ?? true });
  const upgrades: HeldUpgrade[] = [];
  const sockets: Duplex[] = [];
  const connections: RawConnection[] = [];
  const state = { hold: false, onConnection: undefined as ((c: RawConnection) => void) | undefined };
  http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const u: HeldUpgrade = { closed: false, complete: () => wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req)) };
    // HTTP server sockets are half-open capable: the client's FIN is an 'end', not a 'close'.
    socket.on("end", () => (u.closed = true));
    socket.on("close", () => (u.closed = true));
    socket.on("error", () => {});
    sockets.push(socket);
    upgrades.push(u);
    if (!state.hold) return u.complete();
    // Read while held, so the client's FIN is seen (the client sends nothing before the 101).
    socket.resume();
  });
  wss.on("connection", (ws: WebSocket) => {
    const c: RawConnection = { ws, messages: [], binaryMessages: 0, pings: 0, openedAtMs: performance.now() };
    connections.push(c);
    ws.on("message", (data: Buffer, isBinary) => {
      if (isBinary) return void c.binaryMessages++;
      const text = data.toString();
      try {
        c.messages.push(JSON.parse(text) as Record<string, unknown>);
      } catch {
        c.messages.push({ text });
      }
    });
    ws.on("ping", () => c.pings++);
    ws.on("close", (code, reason) => (c.closed = { code, reason: reason.toString(), atMs: performance.now() }));
    ws.on("error", () => {});
    state.onConnection?.(c);
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  return {
    url: `ws://127.0.0.1:${(http.address() as { port: number }).port}`,
    upgrades,
    connections,
    /** Hold new upgrades until the test completes them. */
    set hold(v: boolean) {
      state.hold = v;
    },
    set onConnection(f: ((c: RawConnection) => void) | undefined) {
      state.onConnection = f;
    },
    events: (c: RawConnection) => c.messages.map((m) => m.event),
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        for (const s of sockets) s.destroy();
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}

export type RawPipeline = Awaited<ReturnType<typeof startRawPipeline>>;

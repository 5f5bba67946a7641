/**
 * The page link's loopback server under hostile input, without Chrome: any local process can
 * reach its port (raw HTTP, upgrades with any target, resets), and the page's two sockets may
 * carry anything (bad JSON, unknown events, wrong field types, broken WebSocket frames, odd media
 * frames). The link answers with 4xx or a close code, drops what it cannot use, and keeps working.
 */
import fc from "fast-check";
import type { Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { HTTP_TIMEOUTS } from "../bridge/http-bounds.ts";
import { UP_HEADER_BYTES, writeCallerHeader, type CallerFrameHeader } from "../bridge/page-frames.ts";
import { PageLink } from "../bridge/page-link.ts";
import type { PageEvent } from "../bridge/page-protocol.ts";
import { quietLog } from "./support/fake-page.ts";
import { runs } from "./support/fuzz.ts";
import { hostileControlText, validEvent } from "./support/page-events.ts";
import { rawRequest, statusesIn } from "./support/raw-http.ts";
import { until } from "./support/until.ts";

let link: PageLink;
let port: number;
let token: string;
const events: PageEvent[] = [];
beforeAll(async () => {
  link = new PageLink(quietLog);
  await link.listen({ "page.js": "// page", "media-worker.js": "// worker", "media-hub.worklet.js": "// worklet" });
  const u = new URL(link.pageUrl);
  port = Number(u.port);
  token = u.searchParams.get("token")!;
  link.on("event", (e) => events.push(e));
  // A handler with a bug: the link must log it and go on.
  link.on("event", (e) => {
    if (e.type === "registered") throw new Error("a handler bug");
  });
});
afterAll(async () => {
  await link?.close();
});

const server = () => (link as unknown as { server: Server }).server;
const connections = () => new Promise<number>((resolve, reject) => server().getConnections((err, n) => (err ? reject(err) : resolve(n))));

async function open(kind: "control" | "media"): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/page/${kind}?token=${token}`);
  ws.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
  return ws;
}

function closeOf(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve(-1) : ws.once("close", (code) => resolve(code))));
}

/** The control socket still works both ways: a command's result comes back through request(). */
async function controlWorks(): Promise<void> {
  const ws = await open("control");
  ws.on("message", (data) => {
    const cmd = JSON.parse(data.toString()) as { requestId?: string };
    if (cmd.requestId) ws.send(JSON.stringify({ type: "result", requestId: cmd.requestId, ok: true }));
  });
  await link.request({ type: "unregister" }, 5000);
  // No keep-alive client (fetch pools its sockets): the link's connections can be counted after.
  expect((await rawRequest(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "end", 3000)).status).toBe(200);
  ws.close();
  await closeOf(ws);
}

describe("the page link's port, reached by any local process", () => {
  it("keeps the production bounds on slow clients", () => {
    expect({ headers: server().headersTimeout, request: server().requestTimeout, keepAlive: server().keepAliveTimeout }).toEqual({
      headers: HTTP_TIMEOUTS.headersMs,
      request: HTTP_TIMEOUTS.requestMs,
      keepAlive: HTTP_TIMEOUTS.keepAliveMs,
    });
  });

  // The inputs that killed the host: the upgrade handler threw on a target URL cannot parse,
  // and a client resetting a refused upgrade raised an 'error' no one listened to.
  it.each([
    ["GET // (new URL threw: Invalid URL)", "GET // HTTP/1.1", 400],
    ["an absolute-form target that is no URL", "GET http://[ HTTP/1.1", 400],
    ["GET / upgrading", "GET / HTTP/1.1", 403],
    ["the right path, a wrong token", "GET /page/control?token=wrong HTTP/1.1", 403],
    ["a malformed %-escape in the token", "GET /page/control?token=%zz HTTP/1.1", 403],
  ])("upgrade with %s: %s → %i", async (_what, line, status) => {
    const reply = await rawRequest(port, `${line}\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`, "end", 3000);
    expect(reply).toMatchObject({ status, closed: true });
  });

  it("survives 200 clients resetting refused upgrades (ECONNRESET while the 403 is written)", async () => {
    const upgrade = "GET /page/control?token=bad HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    await Promise.all(Array.from({ length: 200 }, () => rawRequest(port, upgrade, "reset", 1000)));
    await controlWorks();
  });

  const target = fc.oneof(
    fc.constantFrom("/", "//", "///page/control", "http://[", "*", "/%", "/page/control", "/page/media", "/page.js", "/../page.js", "/page/control?token=", "/page/control?token=%zz&token=x", "/__proto__", "/constructor"),
    fc.constant(null).map(() => `/page/control?token=${token.slice(0, -1)}x`),
    fc.string({ unit: "binary", maxLength: 30 }),
  );
  const header = fc.constantFrom(
    "Upgrade: websocket\r\nConnection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Key: short",
    "Sec-WebSocket-Version: 8",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=99",
    "Content-Length: 3",
    "Transfer-Encoding: chunked",
    "Connection: close",
  );
  const request = fc.record({
    method: fc.constantFrom("GET", "GET", "POST", "HEAD", "CONNECT", "FOO"),
    target,
    headers: fc.array(header, { maxLength: 5 }),
    body: fc.constantFrom("", "abc", "0\r\n\r\n"),
  });

  it("answers fuzzed requests and upgrades with a status or a close, and never upgrades without the token", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(request, fc.constantFrom("end" as const, "reset" as const)), { minLength: 1, maxLength: 8 }), async (batch) => {
        const replies = await Promise.all(batch.map(([r, end]) => rawRequest(port, `${r.method} ${r.target} HTTP/1.1\r\nHost: x\r\n${r.headers.map((h) => `${h}\r\n`).join("")}\r\n${r.body}`, end, 3000)));
        replies.forEach((reply, i) => {
          const [r, end] = batch[i];
          if (end === "reset") return;
          expect(reply.closed, `still open: ${JSON.stringify(r)}`).toBe(true);
          for (const status of statusesIn(reply.text)) {
            expect(status, JSON.stringify(r)).not.toBe(101);
            if (status >= 500) expect(status).toBe(505);
          }
        });
      }),
      runs(30),
    );
    await controlWorks();
    await until(async () => (await connections()) === 0, "the link to hold no connection");
  });
});

describe("the control socket: page → host messages", () => {
  it("emits every well-formed event and rejects everything else, counting it; a throwing handler is contained", async () => {
    const ws = await open("control");
    let sentinel = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(validEvent().map((e) => ({ valid: true as const, e })), hostileControlText.map((t) => ({ valid: false as const, t }))), { maxLength: 20 }), async (batch) => {
        events.length = 0;
        const rejectedBefore = link.rejectedMessages;
        for (const m of batch) ws.send(m.valid ? JSON.stringify(m.e) : m.t);
        // Messages are handled in order: once the sentinel is out, the batch has been.
        const mark = `sentinel-${++sentinel}`;
        ws.send(JSON.stringify({ type: "log", level: "info", msg: mark }));
        await until(() => events.some((e) => e.type === "log" && e.msg === mark), "the sentinel event");
        const got = events.filter((e) => !(e.type === "log" && e.msg === mark));
        // Every message is either emitted or rejected: none lost, none crashing the link.
        expect(got.length + (link.rejectedMessages - rejectedBefore)).toBe(batch.length);
        // Well-formed events come through exactly as sent, in order (among whatever else passed).
        const valid = batch.flatMap((m) => (m.valid ? [JSON.stringify(m.e)] : []));
        let next = 0;
        for (const e of got) if (JSON.stringify(e) === valid[next]) next++;
        expect(next, `emitted ${JSON.stringify(got)}`).toBe(valid.length);
      }),
      runs(60),
    );
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
    await closeOf(ws);
  });

  it("a binary message, and a message over 1 MiB (closed 1009), leave the link working", async () => {
    const ws = await open("control");
    const before = link.rejectedMessages;
    ws.send(Buffer.from([1, 2, 3]));
    await until(() => link.rejectedMessages === before + 1, "the binary message rejected");
    ws.send("x".repeat((1 << 20) + 1));
    expect(await closeOf(ws)).toBe(1009);
    await controlWorks();
  });

  // Bytes written under the WebSocket: frames no browser sends.
  const rawFrame = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 64 }),
    fc.constantFrom(
      Buffer.from([0x81, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f]), // unmasked text from a client
      Buffer.from([0x8f, 0x80, 0, 0, 0, 0]), // opcode 15
      Buffer.from([0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]), // a 2^63-byte length
      Buffer.from([0x89, 0xfe, 0x01, 0x00, 0, 0, 0, 0]), // a 256-byte ping (control frames are ≤ 125)
      Buffer.from([0x01, 0x81, 0, 0, 0, 0, 0x61, 0x81, 0x81, 0, 0, 0, 0, 0x62]), // a new message inside a fragmented one
      Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0xc3, 0x28]), // invalid UTF-8
      Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe7]), // close code 999
    ),
  );

  it("broken WebSocket frames on either socket: the socket is closed with a protocol code, the link goes on", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("control" as const, "media" as const), rawFrame, async (kind, bytes) => {
        const ws = await open(kind);
        const closed = closeOf(ws);
        (ws as unknown as { _socket: { write(b: Uint8Array): void } })._socket.write(bytes);
        // A frame still incomplete waits for more: the client gives up (as a dead page would).
        const code = await Promise.race([closed, new Promise<"open">((r) => setTimeout(() => r("open"), 150))]);
        if (code === "open") ws.terminate();
        else expect([1002, 1005, 1006, 1007, 1009]).toContain(code);
        await closeOf(ws);
      }),
      runs(40),
    );
    await controlWorks();
    await until(async () => (await connections()) === 0, "the link to hold no connection");
  });
});

describe("the media socket: caller frames", () => {
  it("hands a slot's handler only well-formed caller frames; strays are counted; text is ignored", async () => {
    const got: Array<{ header: CallerFrameHeader; samples: number }> = [];
    for (const slot of [0, 1, 0xffff]) link.onCallerFrames(slot, (header, pcm) => got.push({ header: { ...header }, samples: pcm.length }));
    const ws = await open("media");
    const frame = fc.record({ kind: fc.constantFrom(1, 1, 1, 2, 0, 255), slot: fc.constantFrom(0, 1, 2, 0xffff, 300), bytes: fc.integer({ min: 0, max: 2000 }), seq: fc.nat() });
    const message = fc.oneof(
      frame.map((f) => ({ f, data: encode(f) })),
      fc.uint8Array({ maxLength: 40 }).map((data) => ({ f: undefined, data: Buffer.from(data) })),
      fc.string({ maxLength: 20 }).map((t) => ({ f: undefined, data: t })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(message, { maxLength: 20 }), async (batch) => {
        got.length = 0;
        const strays = link.strayFrames;
        for (const m of batch) ws.send(m.data);
        const end = { kind: 1, slot: 1, bytes: 320, seq: 0xfffffff };
        ws.send(encode(end));
        await until(() => got.some((g) => g.header.slot === 1 && g.header.seq === end.seq), "the last frame");
        got.pop();
        // Which frames should reach a handler, judged from what was sent (text and short frames never do).
        const expected = batch.flatMap(({ f, data }) => (typeof data !== "string" && data.length >= UP_HEADER_BYTES && data[0] === 1 ? [f ?? { slot: data.readUInt16LE(2), seq: data.readUInt32LE(4), bytes: data.length - UP_HEADER_BYTES }] : []));
        const handled = expected.filter((f) => [0, 1, 0xffff].includes(f.slot));
        expect(got.map((g) => ({ slot: g.header.slot, seq: g.header.seq, samples: g.samples }))).toEqual(handled.map((f) => ({ slot: f.slot, seq: f.seq, samples: f.bytes >> 1 })));
        expect(link.strayFrames - strays).toBe(expected.length - handled.length);
      }),
      runs(40),
    );
    ws.close();
    await closeOf(ws);
    for (const slot of [0, 1, 0xffff]) link.onCallerFrames(slot, undefined);
  });
});

function encode(f: { kind: number; slot: number; bytes: number; seq: number }): Buffer {
  const buf = Buffer.alloc(UP_HEADER_BYTES + f.bytes);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  writeCallerHeader(view, f.slot, f.seq, 0, 0, 0);
  view.setUint8(0, f.kind);
  return buf;
}

import { afterEach, describe, expect, it } from "vitest";
import { detectCallee } from "../bridge/amd/index.ts";
import type { PipelineProfile, StreamInfo } from "../bridge/pipeline/index.ts";
import { MAX_MESSAGE_BYTES } from "../bridge/pipeline/socket.ts";
import { CallStream, MAX_DTMF_IN_FLIGHT, MAX_MARK_NAME_CHARS, MAX_PENDING_MARKS, type StreamOptions } from "../bridge/stream.ts";
import { FakeLink } from "./support/fake-link.ts";
import { quietLog } from "./support/fake-page.ts";
import { startRawPipeline, type RawPipeline } from "./support/raw-pipeline.ts";
import { until } from "./support/until.ts";

// A real CallStream against a real local WebSocket server; only the page is a stand-in.
const TWILIO: PipelineProfile = { protocol: "twilio", encoding: "mulaw", sampleRate: 8000 };
const L16_48K: PipelineProfile = { protocol: "l16", encoding: "l16", sampleRate: 48000 };
const INFO: StreamInfo = { callSid: "s-1", accountId: "acc", from: "+15550001111", to: "+15550009999", direction: "inbound", customParameters: {} };

let pipeline: RawPipeline | undefined;
const streams: CallStream[] = [];
afterEach(async () => {
  for (const s of streams.splice(0)) await s.close("test over");
  await pipeline?.close();
  pipeline = undefined;
});

async function setup(opts: Partial<StreamOptions> & { autoPong?: boolean } = {}) {
  pipeline = await startRawPipeline({ autoPong: opts.autoPong });
  const link = new FakeLink();
  const ends: string[] = [];
  // The page's side of DTMF: each send waits until the test lets the page answer it.
  const dtmf: Array<{ digits: string; answer(): void; fail(err: Error): void }> = [];
  const sendDtmf = (digits: string) => new Promise<void>((answer, fail) => dtmf.push({ digits, answer, fail }));
  const stream = new CallStream(
    link.asLink,
    0,
    { profile: TWILIO, url: pipeline.url, connectTimeoutMs: 20_000, playoutLeadMs: 60, maxQueueMs: 120_000, reconnect: false, ...opts },
    { onEnd: (reason) => ends.push(reason), onSendDtmf: (digits) => sendDtmf(digits) },
    quietLog,
  );
  streams.push(stream);
  return { pipeline, link, stream, ends, dtmf };
}

describe("a stream releases what it took, whenever the call ends", () => {
  it("closed while the pipeline is being dialled: the dial is abandoned, nothing is started", async () => {
    const { pipeline, stream, link } = await setup();
    pipeline.hold = true;
    const opening = stream.open(INFO);
    const upgrade = await until(() => pipeline.upgrades[0], "the host to dial");
    await stream.close("remote-hangup");
    await expect(opening).rejects.toThrow(/closed while the pipeline was dialled/);
    await until(() => upgrade.closed, "the host to hang up the half-made connection");
    // A handshake completed after the host left makes no stream.
    upgrade.complete();
    await new Promise((r) => setImmediate(r));
    expect(pipeline.connections.filter((c) => !c.closed)).toEqual([]);
    expect(pipeline.connections.flatMap((c) => c.messages)).toEqual([]);
    expect(stream.isClosed).toBe(true);
    expect(link.hasHandler(0)).toBe(false);
  });

  it("closed the moment the pipeline accepts, before the host saw the open: no start, the socket closes", async () => {
    const { pipeline, stream } = await setup();
    pipeline.onConnection = () => void stream.close("remote-hangup");
    await expect(stream.open(INFO)).rejects.toThrow(/closed/);
    const conn = await until(() => pipeline.connections[0], "the connection");
    await until(() => conn.closed, "the socket to close");
    expect(conn.messages).toEqual([]);
  });

  it("closed before it was opened: never dials", async () => {
    const { pipeline, stream } = await setup();
    await stream.close("remote-hangup");
    await expect(stream.open(INFO)).rejects.toThrow(/closed/);
    expect(pipeline.upgrades).toHaveLength(0);
  });

  it("an open stream gets stop, then a close 1000 with the reason; closing twice sends nothing more", async () => {
    for (const profile of [TWILIO, L16_48K]) {
      const { pipeline, stream } = await setup({ profile });
      await stream.open(INFO);
      const conn = await until(() => pipeline.connections[0], "the connection");
      await until(() => conn.messages.some((m) => m.event === "start"), "start");
      await stream.close("remote-hangup");
      await stream.close("remote-hangup");
      await until(() => conn.closed, "the close");
      expect(pipeline.events(conn)).toEqual(profile === TWILIO ? ["connected", "start", "stop"] : ["start", "stop"]);
      expect(conn.closed).toMatchObject({ code: 1000, reason: "remote-hangup" });
      await pipeline.close();
    }
  });

  it("a reconnect still dialling when the call ends is abandoned, and ends nothing", async () => {
    const { pipeline, stream, ends } = await setup({ reconnect: true });
    await stream.open(INFO);
    const first = await until(() => pipeline.connections[0], "the first connection");
    pipeline.hold = true;
    first.ws.close(1011, "crash");
    const redial = await until(() => pipeline.upgrades[1], "the host to dial again");
    await stream.close("remote-hangup");
    await until(() => redial.closed, "the redial to be abandoned");
    redial.complete();
    await new Promise((r) => setImmediate(r));
    expect(pipeline.connections.filter((c) => !c.closed)).toEqual([]);
    expect(stream.stats.reconnects).toBe(1);
    expect(stream.stats.drops.closed).toBe(1);
    expect(ends).toEqual([]);
  });

  it("an outbound call that ends during answering-machine detection stops listening at once", async () => {
    const { stream } = await setup();
    const verdict = detectCallee(stream, 8000, { mode: "leave-message" }, () => {});
    expect(stream.tap).toBeDefined();
    await stream.close("remote-hangup");
    // Without the close, this waits out the detector's 25 s guard.
    expect(await verdict).toMatchObject({ result: "unknown", reason: "call ended" });
    expect(stream.tap).toBeUndefined();
  });
});

describe("half-open pipelines", () => {
  it("a pipeline that answers no ping (and sends nothing) is dropped: pipeline-unresponsive", async () => {
    const { pipeline, stream, ends } = await setup({ autoPong: false, pingIntervalMs: 50, pongTimeoutMs: 300 });
    const t0 = performance.now();
    await stream.open(INFO);
    await until(() => ends.length > 0, "the drop");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(300);
    expect(ends).toEqual(["pipeline-unresponsive"]);
    expect(stream.stats.drops.unresponsive).toBe(1);
    const conn = pipeline.connections[0];
    expect(conn.pings).toBeGreaterThanOrEqual(3);
    await until(() => conn.closed, "the socket to be cut");
    expect(conn.closed!.code).toBe(1006); // cut, not closed: a half-open peer would never answer a close
  });

  it("a pipeline that answers its pings stays, however long", async () => {
    // A pong timeout a busy CI machine's event loop never reaches by accident.
    const { pipeline, stream, ends } = await setup({ pingIntervalMs: 50, pongTimeoutMs: 500 });
    await stream.open(INFO);
    const conn = await until(() => pipeline.connections[0], "the connection");
    // 60 pings answered: six timeouts' worth.
    await until(() => conn.pings >= 60, "60 pings");
    expect(ends).toEqual([]);
    expect(conn.closed).toBeUndefined();
  });

  it("with PIPELINE_DROP_ACTION=reconnect an unresponsive pipeline is dialled again", async () => {
    const { pipeline, stream, ends } = await setup({ autoPong: false, pingIntervalMs: 50, pongTimeoutMs: 200, reconnect: true });
    await stream.open(INFO);
    await until(() => pipeline.connections[1]?.messages.some((m) => m.event === "start"), "a fresh start");
    expect(ends).toEqual([]);
    // Each new connection is as deaf: after 3 reconnects the call ends.
    await until(() => ends.length > 0, "the reconnects to run out");
    expect(ends).toEqual(["pipeline-unresponsive"]);
    expect(stream.stats.reconnects).toBe(3);
    expect(stream.stats.drops.unresponsive).toBe(4);
  });
});

describe("bounds", () => {
  it("a pipeline that reads too slowly loses caller frames (counted), not the call", async () => {
    const { pipeline, stream, link, ends } = await setup({ profile: L16_48K });
    await stream.open(INFO);
    const conn = await until(() => pipeline.connections[0], "the connection");
    await until(() => conn.messages.length === 1, "start");
    // The pipeline stops reading: the kernel's buffers fill, then the host's backlog bound.
    (conn.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const frame = new Int16Array(960);
    const sent = 20_000; // 400 s of 48 kHz audio, far more than loopback buffers hold
    for (let i = 0; i < sent; i++) link.frame(0, frame);
    const dropped = stream.stats.droppedCallerFrames;
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThan(sent);
    expect(ends).toEqual([]);
    // Reading again, it gets every frame that was not dropped, and new frames flow again.
    (conn.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await until(() => conn.binaryMessages === sent - dropped, "the backlog to drain");
    link.frame(0, frame);
    await until(() => conn.binaryMessages === sent - dropped + 1, "a new frame");
    expect(stream.stats.droppedCallerFrames).toBe(dropped);
  });

  it("a message over the size bound closes the stream with 1009: pipeline-message-too-big", async () => {
    const { pipeline, stream, ends } = await setup();
    await stream.open(INFO);
    const conn = await until(() => pipeline.connections[0], "the connection");
    conn.ws.send(Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x20));
    await until(() => ends.length > 0, "the call to end");
    expect(ends).toEqual(["pipeline-message-too-big"]);
    expect(stream.stats.drops["too-big"]).toBe(1);
    await until(() => conn.closed, "the close");
    expect(conn.closed!.code).toBe(1009);
  });

  it("DTMF: beyond MAX_DTMF_IN_FLIGHT sends waiting on the page, the pipeline's digits are dropped and counted", async () => {
    const { pipeline, stream, dtmf } = await setup();
    await stream.open(INFO);
    const conn = await until(() => pipeline.connections[0], "the connection");
    const send = (digits: string) => conn.ws.send(JSON.stringify({ event: "dtmf", dtmf: { digits } }));
    const flood = MAX_DTMF_IN_FLIGHT + 5;
    for (let i = 0; i < flood; i++) send(String(i % 10));
    await until(() => stream.stats.droppedDtmf === flood - MAX_DTMF_IN_FLIGHT, "the sends over the bound to be dropped");
    expect(dtmf.map((d) => d.digits)).toEqual([..."01234567"].slice(0, MAX_DTMF_IN_FLIGHT));
    expect(stream.stats.badMessages).toBe(0);
    // The page answers two: two more go through, the next is dropped again.
    dtmf[0].answer();
    dtmf[1].answer();
    await new Promise((r) => setImmediate(r));
    send("#");
    send("*");
    send("A");
    await until(() => stream.stats.droppedDtmf === flood - MAX_DTMF_IN_FLIGHT + 1, "the third to be dropped");
    expect(dtmf.slice(MAX_DTMF_IN_FLIGHT).map((d) => d.digits)).toEqual(["#", "*"]);
    // A failed send frees its place too.
    for (const d of dtmf) d.fail(new Error("page did not answer dtmf within 15000 ms"));
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < MAX_DTMF_IN_FLIGHT; i++) send("9");
    await until(() => dtmf.length === MAX_DTMF_IN_FLIGHT + 2 + MAX_DTMF_IN_FLIGHT, "a full window again");
    expect(stream.stats.droppedDtmf).toBe(flood - MAX_DTMF_IN_FLIGHT + 1);
  });

  it("marks: names over the bound and marks beyond the pending bound are ignored and counted", async () => {
    const { pipeline, stream } = await setup();
    await stream.open(INFO);
    const conn = await until(() => pipeline.connections[0], "the connection");
    const send = (m: unknown) => conn.ws.send(JSON.stringify(m));
    send({ event: "mark", mark: { name: "x".repeat(MAX_MARK_NAME_CHARS + 1) } });
    // Audio first, so marks wait for it (media is not up: nothing plays).
    send({ event: "media", media: { payload: Buffer.alloc(8000, 0xff).toString("base64") } });
    for (let i = 0; i <= MAX_PENDING_MARKS; i++) send({ event: "mark", mark: { name: `m${i}` } });
    await until(() => stream.stats.badMessages === 2, "both refusals");
    // A clear returns every mark that was taken, and only those.
    send({ event: "clear" });
    await until(() => conn.messages.filter((m) => m.event === "mark").length === MAX_PENDING_MARKS, "the pending marks back");
    const names = conn.messages.filter((m) => m.event === "mark").map((m) => (m.mark as { name: string }).name);
    expect(names[0]).toBe("m0");
    expect(names.at(-1)).toBe(`m${MAX_PENDING_MARKS - 1}`);
  });
});

describe("UPLINK=fast", () => {
  const pcm = (v: number) => new Int16Array(160).fill(v);

  it("the worklet's frames carry the caller until the first fast frame, then only fast frames do", async () => {
    const { link, stream } = await setup({ uplink: "fast" });
    const heard: number[] = [];
    stream.tap = (frame) => heard.push(frame[0]);
    link.frame(0, pcm(1));
    link.fastFrame(0, pcm(2), 1, 160);
    link.frame(0, pcm(1));
    link.fastFrame(0, pcm(3), 1, 160);
    expect(heard).toEqual([1, 2, 3]);
    // The worklet's frames still count (they drive playout and the recording).
    expect(stream.stats.callerFrames).toBe(2);
    expect(stream.stats.uplink).toEqual({ mode: "fast", fastFrames: 2, gaps: 1, gapMs: 20, bridgedFrames: 0 });
  });

  it("a stall of the caller's RTP: the worklet's frames carry the pipeline, then the fill of the bridged span is dropped", async () => {
    const { link, stream } = await setup({ uplink: "fast" });
    const heard: number[] = [];
    stream.tap = (frame) => heard.push(frame[0]);
    link.fastFrame(0, pcm(2), 0, 0);
    // Jitter: up to 5 worklet frames without a fast one are not a stall.
    for (let i = 0; i < 5; i++) link.frame(0, pcm(1));
    link.fastFrame(0, pcm(3), 0, 0);
    expect(heard).toEqual([2, 3]);
    // No RTP for 10 worklet frames (200 ms): the last 5 reach the pipeline.
    for (let i = 0; i < 10; i++) link.frame(0, pcm(1));
    expect(heard).toEqual([2, 3, 1, 1, 1, 1, 1]);
    expect(stream.stats.uplink.bridgedFrames).toBe(5);
    // RTP is back: the lane fills the 200 ms hole (10 frames of silence, announced in the first
    // one's header), then audio. The 5 bridged frames' worth of fill is dropped, the rest passes.
    for (let i = 0; i < 10; i++) link.fastFrame(0, pcm(0), 1, 1600);
    link.fastFrame(0, pcm(4), 1, 1600);
    expect(heard).toEqual([2, 3, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 4]);
    // And the worklet's frames stop reaching the pipeline again.
    link.frame(0, pcm(1));
    expect(heard.at(-1)).toBe(4);
  });

  it("a stall of the page's uplink worker (RTP flowed, no fill): its late frames for the bridged span are dropped", async () => {
    const { link, stream } = await setup({ uplink: "fast" });
    const heard: number[] = [];
    stream.tap = (frame) => heard.push(frame[0]);
    link.fastFrame(0, pcm(2));
    for (let i = 0; i < 8; i++) link.frame(0, pcm(1));
    expect(stream.stats.uplink.bridgedFrames).toBe(3);
    // The worker catches up: 8 frames of real audio at once, the first 3 already bridged.
    for (let i = 0; i < 8; i++) link.fastFrame(0, pcm(10 + i));
    expect(heard).toEqual([2, 1, 1, 1, 13, 14, 15, 16, 17]);
  });

  it("DTMF is still detected in the worklet's frames once fast frames flow", async () => {
    const { link, stream } = await setup({ uplink: "fast" });
    link.fastFrame(0, pcm(0));
    // "5" (770 + 1336 Hz), 80 ms at -10 dBFS, then silence: in the worklet's frames only.
    const tone = Int16Array.from({ length: 640 }, (_, i) => Math.round(10362 * (Math.sin((2 * Math.PI * 770 * i) / 8000) + Math.sin((2 * Math.PI * 1336 * i) / 8000))));
    for (let i = 0; i < tone.length; i += 160) link.frame(0, tone.subarray(i, i + 160));
    for (let i = 0; i < 5; i++) link.frame(0, pcm(0));
    expect(stream.stats.dtmfIn).toBe("5");
  });

  it("buffered (the default) takes no fast frames", async () => {
    const { link, stream } = await setup();
    const heard: number[] = [];
    stream.tap = (frame) => heard.push(frame[0]);
    link.fastFrame(0, pcm(2));
    link.frame(0, pcm(1));
    expect(heard).toEqual([1]);
    expect(stream.stats.uplink).toEqual({ mode: "buffered", fastFrames: 0, gaps: 0, gapMs: 0, bridgedFrames: 0 });
  });
});

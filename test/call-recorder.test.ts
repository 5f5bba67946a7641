import { mkdtemp, open, readFile, readdir, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import wavefile from "wavefile";
import { afterEach, describe, expect, it } from "vitest";
import { CallRecorder, type OpenRecordingFile } from "../bridge/call-recorder.ts";
import { CallStream } from "../bridge/stream.ts";
import { CallLifecycle } from "../host/call-lifecycle.ts";
import { CallRegistry, callView } from "../host/calls.ts";
import { Metrics } from "../host/metrics.ts";
import { FakeLink } from "./support/fake-link.ts";
import { quietLog } from "./support/fake-page.ts";
import { startRawPipeline, type RawPipeline } from "./support/raw-pipeline.ts";
import { until } from "./support/until.ts";

const RATE = 8000;
const SECOND_BYTES = RATE * 4; // stereo PCM16

/**
 * A disk that fills up after `budgetBytes` of audio: later audio writes go to /dev/full, so the
 * ENOSPC the recorder sees is the kernel's own. (A small real file system needs mount privileges;
 * an open file stays writable whatever its directory's or its own mode become.)
 */
function diskFullAfter(budgetBytes: number): OpenRecordingFile {
  return async (path) => {
    const file = await open(path, "wx", 0o640);
    const full = await open("/dev/full", "w");
    let used = 0;
    return {
      write(buf, offset, length, position) {
        if (position === 0) return file.write(buf, offset, length, position); // the header is rewritten in place
        if (used + length > budgetBytes) return full.write(buf, offset, length);
        used += length;
        return file.write(buf, offset, length, position);
      },
      async close() {
        await full.close();
        await file.close();
      },
    };
  };
}

function frames(recorder: CallRecorder, seconds: number): void {
  const caller = new Int16Array(RATE / 50).fill(1000);
  const agent = new Int16Array(RATE / 50).fill(-1000);
  for (let i = 0; i < seconds * 50; i++) recorder.write(caller, agent);
}

const headerDataBytes = async (path: string) => (await readFile(path)).readUInt32LE(40);
const wavSeconds = async (path: string) => {
  const wav = new wavefile.WaveFile(await readFile(path));
  return (wav.getSamples(false, Int16Array) as unknown as Int16Array[])[0].length / RATE;
};

let pipeline: RawPipeline | undefined;
afterEach(async () => {
  await pipeline?.close();
  pipeline = undefined;
});

describe("recordings survive the host", () => {
  it("the header counts each second as soon as it is written, so a crash loses under a second", async () => {
    const dir = await mkdtemp(join(tmpdir(), "rec-unit-"));
    const path = join(dir, "a.wav");
    const recorder = await CallRecorder.create(path, RATE, quietLog);
    for (let s = 1; s <= 3; s++) {
      frames(recorder, 1);
      await until(async () => (await headerDataBytes(path)) === s * SECOND_BYTES, `the header to count ${s} s`);
      // The file as a crash would leave it is a valid WAV of every second written.
      expect((await stat(path)).size).toBe(44 + s * SECOND_BYTES);
      expect(await wavSeconds(path)).toBe(s);
    }
    frames(recorder, 0.5);
    expect(await recorder.close()).toEqual({ path, durationMs: 3500 });
    expect(await wavSeconds(path)).toBe(3.5);
  });

  it("a disk that fills up mid-call: the recording keeps what came before and says why; writing never throws", async () => {
    const dir = await mkdtemp(join(tmpdir(), "rec-unit-"));
    const path = join(dir, "b.wav");
    const recorder = await CallRecorder.create(path, RATE, quietLog, diskFullAfter(2 * SECOND_BYTES));
    frames(recorder, 5);
    const rec = await recorder.close();
    expect(rec).toMatchObject({ path, durationMs: 2000 });
    expect(rec.failed).toMatch(/ENOSPC/);
    expect(await wavSeconds(path)).toBe(2);
  });

  it("the call goes on when its recording fails, and GET /calls shows the recording as failed", async () => {
    pipeline = await startRawPipeline();
    const dir = await mkdtemp(join(tmpdir(), "rec-unit-"));
    const calls = new CallRegistry(1);
    const lifecycle = new CallLifecycle({ calls, page: { request: async () => {}, newRequestId: () => "r", waitFor: () => new Promise(() => {}) }, metrics: new Metrics(), log: quietLog, sampleRate: RATE, recordingsDir: dir, openRecording: diskFullAfter(SECOND_BYTES) });
    const call = calls.add({ sipCallId: "sip-1", direction: "inbound", from: "+15550001111", to: "+15550009999", slot: calls.takeSlot() });
    const link = new FakeLink();
    const stream = new CallStream(link.asLink, 0, { profile: { protocol: "l16", encoding: "l16", sampleRate: RATE }, url: pipeline.url, connectTimeoutMs: 2000, playoutLeadMs: 60, maxQueueMs: 120_000, reconnect: false }, { onEnd() {}, onSendDtmf: async () => {} }, quietLog);
    call.stream = stream;
    await stream.open({ callSid: "s-1", accountId: "a", from: call.from, to: call.to, direction: "inbound", customParameters: {} });
    lifecycle.onAnswered({ type: "answered", sipCallId: "sip-1", codec: "PCMU" });
    const [name] = await until(async () => readdir(dir).then((f) => (f.length ? f : undefined)), "the recording to start");
    const conn = pipeline.connections[0];
    const pcm = new Int16Array(RATE / 50);
    let sent = 0;
    const feed = (n: number) => {
      for (let i = 0; i < n; i++) link.frame(0, pcm);
      sent += n;
    };
    await until(async () => (feed(5), (await headerDataBytes(join(dir, name))) === SECOND_BYTES), "the first second on disk");
    feed(100); // two seconds more: the next write meets the full disk
    await until(() => conn.binaryMessages === sent, "every frame at the pipeline");
    lifecycle.onEnded({ type: "ended", sipCallId: "sip-1", by: "remote" });
    await lifecycle.flush();
    const view = callView(call) as { recording: { path: string; durationMs: number; failed?: string } };
    expect(view.recording).toMatchObject({ path: join(dir, name), durationMs: 1000 });
    expect(view.recording.failed).toMatch(/ENOSPC/);
    await until(() => conn.closed, "the stream's close");
    expect(pipeline.events(conn)).toEqual(["start", "stop"]);
  });
});

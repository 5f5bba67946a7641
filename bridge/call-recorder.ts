import { open, type FileHandle } from "node:fs/promises";
import type { Logger } from "pino";

/**
 * A call's recording: stereo WAV, caller on the left, agent (as played to the caller) on the
 * right, at the stream's sample rate. Written as it goes, one second per write (async I/O, never on
 * the frame path), with the header's sizes patched every few seconds: a crash loses at most those
 * seconds from the header's count, never the file. (wavefile builds whole files in memory, which
 * an hour-long call cannot afford; the 44-byte header is written here.)
 */
export class CallRecorder {
  private file: FileHandle | undefined;
  private readonly chunk: Buffer;
  private fill = 0;
  private dataBytes = 0;
  private writing: Promise<unknown> = Promise.resolve();
  private sinceHeaderMs = 0;
  private failed = false;

  private constructor(
    readonly path: string,
    private readonly sampleRate: number,
    private readonly log: Logger,
  ) {
    this.chunk = Buffer.alloc(sampleRate * 4); // 1 s of stereo PCM16
  }

  static async create(path: string, sampleRate: number, log: Logger): Promise<CallRecorder> {
    const r = new CallRecorder(path, sampleRate, log);
    r.file = await open(path, "wx", 0o640);
    await r.file.write(r.header(0), 0, 44, 0);
    return r;
  }

  /** One frame: the caller's samples and the agent's played during the same 20 ms (zeros if none). */
  write(caller: Int16Array, agent: Int16Array): void {
    if (this.failed) return;
    for (let i = 0; i < caller.length; i++) {
      this.chunk.writeInt16LE(caller[i], this.fill);
      this.chunk.writeInt16LE(agent[i] ?? 0, this.fill + 2);
      this.fill += 4;
      if (this.fill === this.chunk.length) this.flush();
    }
  }

  private flush(): void {
    if (!this.file || this.fill === 0) return;
    const data = Buffer.from(this.chunk.subarray(0, this.fill));
    const at = 44 + this.dataBytes;
    this.dataBytes += data.length;
    this.fill = 0;
    const file = this.file;
    const patch = (this.sinceHeaderMs += (data.length / 4 / this.sampleRate) * 1000) >= 5000;
    if (patch) this.sinceHeaderMs = 0;
    const size = this.dataBytes;
    this.writing = this.writing
      .then(() => file.write(data, 0, data.length, at))
      .then(() => (patch ? file.write(this.header(size), 0, 44, 0) : undefined))
      .catch((err: Error) => {
        if (!this.failed) this.log.error({ path: this.path, err: err.message }, "recording: write failed, recording stopped");
        this.failed = true;
      });
  }

  async close(): Promise<{ path: string; durationMs: number }> {
    this.flush();
    await this.writing;
    if (this.file) {
      await this.file.write(this.header(this.dataBytes), 0, 44, 0).catch(() => {});
      await this.file.close().catch(() => {});
      this.file = undefined;
    }
    return { path: this.path, durationMs: Math.round((this.dataBytes / 4 / this.sampleRate) * 1000) };
  }

  private header(dataBytes: number): Buffer {
    const h = Buffer.alloc(44);
    h.write("RIFF", 0, "ascii");
    h.writeUInt32LE(36 + dataBytes, 4);
    h.write("WAVE", 8, "ascii");
    h.write("fmt ", 12, "ascii");
    h.writeUInt32LE(16, 16);
    h.writeUInt16LE(1, 20); // PCM
    h.writeUInt16LE(2, 22); // stereo: caller, agent
    h.writeUInt32LE(this.sampleRate, 24);
    h.writeUInt32LE(this.sampleRate * 4, 28);
    h.writeUInt16LE(4, 32);
    h.writeUInt16LE(16, 34);
    h.write("data", 36, "ascii");
    h.writeUInt32LE(dataBytes, 40);
    return h;
  }
}

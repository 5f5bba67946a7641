import { open } from "node:fs/promises";
import type { Logger } from "pino";

/** What a call's recording came to: `failed` says why it stopped early (the file holds the audio before that). */
export interface Recording {
  path: string;
  durationMs: number;
  failed?: string;
  /** The JSON beside the WAV (`<path>.json`): the call and its quality summary, written by the host. */
  metadataPath?: string;
}

/** The two calls a recording makes on its file (a FileHandle; tests put a disk that fills up behind it). */
export interface RecordingFile {
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<unknown>;
  close(): Promise<void>;
}

export type OpenRecordingFile = (path: string) => Promise<RecordingFile>;

/** Created exclusively (never overwrites), readable by the group. */
const openExclusive: OpenRecordingFile = (path) => open(path, "wx", 0o640);

/**
 * A call's recording: stereo WAV, caller on the left, agent (as played to the caller) on the
 * right, at the stream's sample rate. Written as it goes, one second per write (async I/O, never on
 * the frame path), each followed by the header with the new sizes (one 44-byte positional write):
 * a crash (even SIGKILL) loses at most the second not yet written, never the file. A failed write
 * (disk full) stops the recording; the call goes on. (wavefile builds whole files in memory, which
 * an hour-long call cannot afford; the 44-byte header is written here.)
 */
export class CallRecorder {
  private file: RecordingFile | undefined;
  private readonly chunk: Buffer;
  /** Rewritten in place for each patch: writes are chained, so one is never in flight twice. */
  private readonly headerBuf = Buffer.alloc(44);
  private fill = 0;
  /** Bytes handed to writes, and bytes the file is known to hold. */
  private queuedBytes = 0;
  private writtenBytes = 0;
  private writing: Promise<unknown> = Promise.resolve();
  private failure: string | undefined;

  private constructor(
    readonly path: string,
    private readonly sampleRate: number,
    private readonly log: Logger,
  ) {
    this.chunk = Buffer.alloc(sampleRate * 4); // 1 s of stereo PCM16
  }

  static async create(path: string, sampleRate: number, log: Logger, openFile: OpenRecordingFile = openExclusive): Promise<CallRecorder> {
    const r = new CallRecorder(path, sampleRate, log);
    r.file = await openFile(path);
    try {
      await r.file.write(r.header(0), 0, 44, 0);
    } catch (err) {
      await r.file.close().catch(() => {});
      throw err;
    }
    return r;
  }

  /** Why the recording stopped early, if it did. */
  get failed(): string | undefined {
    return this.failure;
  }

  /** One frame: the caller's samples and the agent's played during the same 20 ms (zeros if none). */
  write(caller: Int16Array, agent: Int16Array): void {
    if (this.failure) return;
    for (let i = 0; i < caller.length; i++) {
      this.chunk.writeInt16LE(caller[i], this.fill);
      this.chunk.writeInt16LE(agent[i] ?? 0, this.fill + 2);
      this.fill += 4;
      if (this.fill === this.chunk.length) this.flush();
    }
  }

  private flush(): void {
    if (!this.file || this.fill === 0 || this.failure) return;
    const data = Buffer.from(this.chunk.subarray(0, this.fill));
    const at = 44 + this.queuedBytes;
    this.queuedBytes += data.length;
    this.fill = 0;
    const file = this.file;
    // Data first, then the header that counts it: the header never claims bytes the file lacks.
    this.writing = this.writing
      .then(() => !this.failure && file.write(data, 0, data.length, at))
      .then(() => {
        if (this.failure) return;
        this.writtenBytes = at - 44 + data.length;
        return file.write(this.header(this.writtenBytes), 0, 44, 0);
      })
      .catch((err: Error) => this.fail(err));
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err.message;
    this.log.error({ path: this.path, err: err.message, durationMs: this.durationMs() }, "recording: write failed, recording stopped; the call goes on");
  }

  async close(): Promise<Recording> {
    this.flush();
    await this.writing;
    if (this.file) {
      // Already patched after the last write; once more in case that patch was the write that failed.
      await this.file.write(this.header(this.writtenBytes), 0, 44, 0).catch(() => {});
      await this.file.close().catch(() => {});
      this.file = undefined;
    }
    return { path: this.path, durationMs: this.durationMs(), ...(this.failure !== undefined && { failed: this.failure }) };
  }

  private durationMs(): number {
    return Math.round((this.writtenBytes / 4 / this.sampleRate) * 1000);
  }

  private header(dataBytes: number): Buffer {
    const h = this.headerBuf;
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

/** Playout's queue: PCM chunks as the pipeline pushed them, read from the head in any sizes. */
export class SampleQueue {
  private readonly chunks: Int16Array[] = [];
  private headOffset = 0;
  /** Samples queued. */
  samples = 0;

  get chunkCount(): number {
    return this.chunks.length;
  }

  push(pcm: Int16Array): void {
    this.chunks.push(pcm);
    this.samples += pcm.length;
  }

  /** Puts `pcm` back in front of the head (a crossfaded join after a trim). */
  unshift(pcm: Int16Array): void {
    if (this.headOffset > 0) {
      this.chunks[0] = this.chunks[0].subarray(this.headOffset);
      this.headOffset = 0;
    }
    this.chunks.unshift(pcm);
    this.samples += pcm.length;
  }

  clear(): void {
    this.chunks.length = 0;
    this.headOffset = 0;
    this.samples = 0;
  }

  /** Moves the next `out.length` samples into `out` (the caller checked they are queued). */
  take(out: Int16Array): void {
    let filled = 0;
    while (filled < out.length) {
      const head = this.chunks[0];
      const n = Math.min(out.length - filled, head.length - this.headOffset);
      out.set(head.subarray(this.headOffset, this.headOffset + n), filled);
      filled += n;
      this.headOffset += n;
      if (this.headOffset === head.length) {
        this.chunks.shift();
        this.headOffset = 0;
      }
    }
    this.samples -= out.length;
  }

  /** The largest magnitude among the next `n` samples (or all of them, if fewer are queued). */
  peak(n: number): number {
    let peak = 0;
    let left = n;
    let offset = this.headOffset;
    for (const chunk of this.chunks) {
      const end = Math.min(chunk.length, offset + left);
      for (let i = offset; i < end; i++) {
        const v = chunk[i] < 0 ? -chunk[i] : chunk[i];
        if (v > peak) peak = v;
      }
      left -= end - offset;
      offset = 0;
      if (left <= 0) break;
    }
    return peak;
  }
}

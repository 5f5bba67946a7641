/**
 * Playout's queue: PCM chunks as the pipeline pushed them, read from the head in any sizes. Reads
 * copy sample by sample into the caller's buffer and a join put back in front is copied into a
 * buffer the queue owns, so neither allocates (playout reads one every 20 ms per call).
 */
export class SampleQueue {
  private readonly chunks: Int16Array[] = [];
  private headOffset = 0;
  /** Samples put back in front of the chunks (a crossfaded join), read before them. */
  private front: Int16Array;
  private frontStart = 0;
  private frontEnd = 0;
  /** Samples queued. */
  samples = 0;

  /** `frontCapacity`: the longest join put back (grown if a longer one comes). */
  constructor(frontCapacity = 0) {
    this.front = new Int16Array(frontCapacity);
  }

  get chunkCount(): number {
    return this.chunks.length;
  }

  push(pcm: Int16Array): void {
    this.chunks.push(pcm);
    this.samples += pcm.length;
  }

  /** Puts a copy of `pcm` back in front of the head (a crossfaded join after a trim). */
  unshift(pcm: Int16Array): void {
    const left = this.frontEnd - this.frontStart;
    if (left + pcm.length > this.front.length) {
      const bigger = new Int16Array(Math.max(2 * this.front.length, left + pcm.length));
      bigger.set(this.front.subarray(this.frontStart, this.frontEnd), pcm.length);
      this.front = bigger;
    } else this.front.copyWithin(pcm.length, this.frontStart, this.frontEnd);
    this.front.set(pcm, 0);
    this.frontStart = 0;
    this.frontEnd = left + pcm.length;
    this.samples += pcm.length;
  }

  clear(): void {
    this.chunks.length = 0;
    this.headOffset = 0;
    this.frontStart = this.frontEnd = 0;
    this.samples = 0;
  }

  /** Moves the next `count` samples into the start of `out` (the caller checked they are queued). */
  take(out: Int16Array, count = out.length): void {
    let filled = 0;
    const front = this.front;
    while (filled < count && this.frontStart < this.frontEnd) out[filled++] = front[this.frontStart++];
    while (filled < count) {
      const head = this.chunks[0];
      const n = Math.min(count - filled, head.length - this.headOffset);
      for (let i = 0, j = this.headOffset; i < n; i++, j++) out[filled + i] = head[j];
      filled += n;
      this.headOffset += n;
      if (this.headOffset === head.length) {
        this.chunks.shift();
        this.headOffset = 0;
      }
    }
    this.samples -= count;
  }

  /** The largest magnitude among the next `n` samples (or all of them, if fewer are queued). */
  peak(n: number): number {
    let peak = 0;
    let left = n;
    for (let i = this.frontStart; i < this.frontEnd && left > 0; i++, left--) {
      const v = this.front[i] < 0 ? -this.front[i] : this.front[i];
      if (v > peak) peak = v;
    }
    let offset = this.headOffset;
    for (let c = 0; c < this.chunks.length && left > 0; c++) {
      const chunk = this.chunks[c];
      const end = Math.min(chunk.length, offset + left);
      for (let i = offset; i < end; i++) {
        const v = chunk[i] < 0 ? -chunk[i] : chunk[i];
        if (v > peak) peak = v;
      }
      left -= end - offset;
      offset = 0;
    }
    return peak;
  }
}

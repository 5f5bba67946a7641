/**
 * Streaming rational resampler (polyphase windowed-sinc) for the fast uplink: Chrome's Opus
 * decoder always gives 48 kHz, the pipeline wants 8, 16 or 24 kHz (and a PCMU call on a wideband
 * pipeline needs 8 kHz brought up). Same rate: no filter at all.
 *
 * Kept by hand because the libraries measured worse where it counts, in Node on this 2-core box
 * with 20 ms packets (60 s of them): @alexanderolsen/libsamplerate-js 2.1.2 (wasm libsamplerate,
 * its streaming `full` API into a reused buffer) at SINC_FASTEST took 106–188 µs a packet against
 * 62–97 µs here, and 1.2 ms (48→16 kHz) / 2.4 ms (48→8 kHz) of latency against 0.75 / 1.5 ms;
 * its better modes cost 3–10× the CPU and 3–18 ms; and it adds 2 MB of inlined wasm to the page
 * and an async start to every tap. wave-resampler resamples whole buffers only (no state across
 * packets: a seam every 20 ms); the speex wasm build ships bare exports with no API to call;
 * OfflineAudioContext does not exist in a worker. This filter is ≈ 70 dB down, ample for speech.
 */

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

export class Resampler {
  /** Up by L, down by M. */
  private readonly up: number;
  private readonly down: number;
  private readonly taps: Float32Array;
  private buf = new Float32Array(4096);
  /** Absolute input index of buf[0], and how many samples buf holds. */
  private base = 0;
  private len = 0;
  /** Absolute index, at the upsampled rate, of the next output sample. */
  private next = 0;

  constructor(
    readonly inRate: number,
    readonly outRate: number,
  ) {
    const g = gcd(inRate, outRate);
    this.up = outRate / g;
    this.down = inRate / g;
    const factor = Math.max(this.up, this.down);
    // Cut-off a little under the lower Nyquist; 24 zero crossings a side: about 70 dB down.
    const n = 24 * factor + 1;
    const fc = 0.45 / factor;
    this.taps = new Float32Array(n);
    const mid = (n - 1) / 2;
    for (let i = 0; i < n; i++) {
      const x = i - mid;
      const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
      const blackman = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)) + 0.08 * Math.cos((4 * Math.PI * i) / (n - 1));
      this.taps[i] = sinc * blackman * this.up;
    }
  }

  get passThrough(): boolean {
    return this.up === this.down;
  }

  /** Feeds the first `n` input samples; `out` gets each output sample as soon as it can be computed. */
  push(input: Float32Array, out: (v: number) => void, n = input.length): void {
    if (this.passThrough) {
      for (let i = 0; i < n; i++) out(input[i]);
      return;
    }
    this.append(input, n);
    const { up, down, taps } = this;
    const last = this.base + this.len - 1;
    while (Math.floor(this.next / up) <= last) {
      const u = this.next;
      const hi = Math.floor(u / up);
      const lo = Math.max(this.base, Math.ceil((u - taps.length + 1) / up));
      let s = 0;
      for (let i = lo; i <= hi; i++) s += taps[u - i * up] * this.buf[i - this.base];
      out(s);
      this.next += down;
    }
    // Keep only the inputs later outputs still reach.
    const keepFrom = Math.max(this.base, Math.ceil((this.next - taps.length + 1) / up));
    const drop = Math.min(keepFrom - this.base, this.len);
    if (drop > 0) {
      this.buf.copyWithin(0, drop, this.len);
      this.len -= drop;
      this.base += drop;
    }
  }

  private append(input: Float32Array, n: number): void {
    if (this.len + n > this.buf.length) {
      const bigger = new Float32Array(Math.max(this.buf.length * 2, this.len + n));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    for (let i = 0; i < n; i++) this.buf[this.len + i] = input[i];
    this.len += n;
  }
}

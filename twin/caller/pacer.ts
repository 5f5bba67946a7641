/**
 * One 20 ms clock for every caller: a single timer that catches up on late ticks
 * (so Node's timer jitter never stretches the audio), instead of one timer per call.
 */
const FRAME_MS = 20;

/** A task gets the wall-clock time (epoch ms) its frame is due: on a steady 20 ms grid, even when the tick runs late. */
type Task = (dueAtMs: number) => void;

class Pacer {
  private readonly tasks = new Set<Task>();
  private timer: NodeJS.Timeout | undefined;
  private nextMs = 0;

  add(task: Task): () => void {
    this.tasks.add(task);
    if (!this.timer) {
      this.nextMs = performance.now();
      this.tick();
    }
    return () => {
      this.tasks.delete(task);
      if (this.tasks.size === 0 && this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
    };
  }

  private tick = (): void => {
    const now = performance.now();
    // After a long stall, skip ahead rather than burst seconds of audio.
    if (now - this.nextMs > 200) this.nextMs = now;
    while (this.nextMs <= now) {
      const dueAtMs = performance.timeOrigin + this.nextMs;
      for (const task of this.tasks) task(dueAtMs);
      this.nextMs += FRAME_MS;
    }
    this.timer = setTimeout(this.tick, Math.max(0, this.nextMs - performance.now()));
  };
}

export const pacer = new Pacer();

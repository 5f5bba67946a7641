import { describe, expect, it } from "vitest";
import { PageClock } from "../bridge/page-clock.ts";

describe("page clock", () => {
  it("dates each frame by the least late one: a busy moment that delays reports does not move it", () => {
    const c = new PageClock();
    expect(c.lastMadeAtMs).toBeUndefined();
    // Frames 0..4 made every 20 ms from t=1000; 0 and 1 arrive 3 ms late, 2 only 1 ms late:
    // the estimate is as late as the least late frame.
    c.onFrame(0, 1003);
    c.onFrame(1, 1023);
    expect(c.lastMadeAtMs).toBe(1023);
    c.onFrame(2, 1041);
    expect(c.lastMadeAtMs).toBe(1041);
    // The event loop was busy: frames 3 and 4 are read together, 45 and 25 ms late.
    c.onFrame(3, 1105);
    expect(Math.abs(c.lastMadeAtMs! - 1061)).toBeLessThan(0.2);
    c.onFrame(4, 1105);
    expect(Math.abs(c.lastMadeAtMs! - 1081)).toBeLessThan(0.2);
  });

  it("follows a page clock slower than ours, slowly; a faster one at once", () => {
    const c = new PageClock();
    c.onFrame(0, 0);
    // The page's 20 ms are 20.02 of ours (1000 ppm) for 10 s.
    for (let n = 1; n <= 500; n++) c.onFrame(n, n * 20.02);
    expect(Math.abs(c.lastMadeAtMs! - 500 * 20.02)).toBeLessThan(1);
    // Faster (19.98): each frame is earlier than the estimate, which takes it at once.
    for (let n = 501; n <= 1000; n++) c.onFrame(n, 500 * 20.02 + (n - 500) * 19.98);
    expect(Math.abs(c.lastMadeAtMs! - (500 * 20.02 + 500 * 19.98))).toBeLessThan(0.001);
  });

  it("a counter that starts again (a new slot) is dated afresh; one that wraps counts on", () => {
    const c = new PageClock();
    c.onFrame(100, 5000);
    c.onFrame(0, 9000);
    expect(c.lastMadeAtMs).toBe(9000);
    const w = new PageClock();
    w.onFrame(0xffffffff, 0);
    w.onFrame(0, 20);
    w.onFrame(1, 40);
    expect(w.lastMadeAtMs).toBe(40);
  });
});

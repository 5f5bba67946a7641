// The page's audio graph while it builds (browser/graph-slot.ts): what the page does when a call's
// answer, or another `configure`, arrives before the graph is built.
import { describe, expect, it } from "vitest";
import { GraphSlot } from "../browser/graph-slot.ts";
import type { Command, GraphSettings } from "../bridge/page-protocol.ts";

const settings: GraphSettings = { sampleRate: 8000, slots: 4, preferCodec: "PCMU", uplink: "buffered" };

/** A graph factory whose builds finish when the test says. */
function builds() {
  const made: Array<{ settings: GraphSettings; finish(): void; fail(err: Error): void }> = [];
  const create = (s: GraphSettings) =>
    new Promise<{ id: number }>((resolve, reject) => {
      const id = made.length;
      made.push({ settings: s, finish: () => resolve({ id }), fail: reject });
    });
  return { made, create };
}

const settled = async <T>(p: Promise<T>) => {
  let state = "pending";
  p.then(
    () => (state = "resolved"),
    () => (state = "rejected"),
  );
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return state;
};

describe("GraphSlot", () => {
  it("an answer waits for the graph still building, then runs on it", async () => {
    const { made, create } = builds();
    const slot = new GraphSlot(create);
    void slot.build(settings);
    const answer: Command = { type: "answer", requestId: "r1", sipCallId: "c1", slot: 0 };
    expect(GraphSlot.needsGraph(answer)).toBe(true);
    expect(() => slot.current).toThrow(/not configured/);
    const ready = slot.ready();
    expect(await settled(ready)).toBe("pending");
    made[0].finish();
    expect(await ready).toEqual({ id: 0 });
    expect(slot.current).toEqual({ id: 0 });
  });

  it("commands that need no audio do not wait", () => {
    for (const cmd of [
      { type: "ping", requestId: "r" },
      { type: "hangup", requestId: "r", sipCallId: "c" },
      { type: "unregister", requestId: "r" },
      { type: "reconnect", requestId: "r", backup: false },
    ] as Command[])
      expect(GraphSlot.needsGraph(cmd)).toBe(false);
    expect(GraphSlot.needsGraph({ type: "call", requestId: "r", to: "101", slot: 1 })).toBe(true);
  });

  it("configure with the same settings keeps the graph building; other settings build a new one", async () => {
    const { made, create } = builds();
    const slot = new GraphSlot(create);
    const first = slot.build(settings);
    expect(slot.build({ ...settings })).toBe(first);
    expect(made).toHaveLength(1);
    const second = slot.build({ ...settings, sampleRate: 16000 });
    expect(made).toHaveLength(2);
    made[0].finish();
    await first;
    // The replaced graph is not the current one.
    expect(() => slot.current).toThrow(/not configured/);
    made[1].finish();
    expect(await second).toEqual({ id: 1 });
    expect(slot.current).toEqual({ id: 1 });
  });

  it("a graph that failed: the waiting answer gets its error, and configure builds it again", async () => {
    const { made, create } = builds();
    const slot = new GraphSlot(create);
    void slot.build(settings).catch(() => {});
    const ready = slot.ready();
    made[0].fail(new Error("media link closed (1006)"));
    await expect(ready).rejects.toThrow("media link closed (1006)");
    const again = slot.build(settings);
    expect(made).toHaveLength(2);
    made[1].finish();
    expect(await again).toEqual({ id: 1 });
  });

  it("no graph asked for: ready() fails at once with a clear error", async () => {
    const slot = new GraphSlot(builds().create);
    await expect(slot.ready()).rejects.toThrow(/audio graph not configured/);
  });
});

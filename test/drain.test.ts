/**
 * The drain's bookkeeping (host/drain.ts) with a fake host, and the signal ladder of
 * host/shutdown.ts in a child process: first signal drains, second hurries, third exits 130.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { Drain, type DrainTarget } from "../host/drain.ts";
import { FORCED_EXIT_CODE } from "../host/shutdown.ts";
import { until } from "./support/until.ts";

function fakeHost(calls: number) {
  const listeners: Array<() => void> = [];
  const seen = { draining: false, hungUp: [] as string[], calls };
  const target: DrainTarget = {
    setDraining: (on) => (seen.draining = on),
    callsInProgress: () => seen.calls,
    onCallChange: (l) => listeners.push(l),
    hangupAll: async (reason) => {
      seen.hungUp.push(reason);
      seen.calls = 0;
      for (const l of listeners) l();
    },
  };
  const end = () => {
    seen.calls--;
    for (const l of listeners) l();
  };
  return { target, seen, end };
}

describe("Drain", () => {
  it("sets the host draining, waits for its calls to end, hangs up none", async () => {
    const { target, seen, end } = fakeHost(2);
    const gauge = { v: -1, set(v: number) { this.v = v; } };
    const drain = new Drain(target, 60_000, pino({ level: "silent" }), gauge);
    expect(drain.status()).toBeNull();
    expect(gauge.v).toBe(0);
    let drained = false;
    void drain.start("SIGTERM").then(() => (drained = true));
    expect(seen.draining).toBe(true);
    expect(gauge.v).toBe(1);
    expect(drain.status()).toMatchObject({ by: "SIGTERM", callsInProgress: 2 });
    end();
    await Promise.resolve();
    expect(drained).toBe(false);
    end();
    await drain.drained;
    expect(seen.hungUp).toEqual([]);
    // A second start changes nothing.
    await drain.start("POST /admin/drain");
    expect(drain.status()!.by).toBe("SIGTERM");
  });

  it("with no call it is drained at once; at the timeout the calls left are hung up drain-timeout", async () => {
    const idle = new Drain(fakeHost(0).target, 60_000, pino({ level: "silent" }));
    await idle.start("SIGTERM");
    const { target, seen } = fakeHost(1);
    const drain = new Drain(target, 20, pino({ level: "silent" }));
    await drain.start("SIGTERM");
    expect(seen.hungUp).toEqual(["drain-timeout"]);
  });

  it("hurry hangs up every call now", async () => {
    const { target, seen } = fakeHost(3);
    const drain = new Drain(target, 60_000, pino({ level: "silent" }));
    void drain.start("SIGTERM");
    await drain.hurry();
    await drain.drained;
    expect(seen.hungUp).toEqual(["shutdown"]);
  });
});

describe("the signal ladder", () => {
  const child = (env: Record<string, string> = {}) => {
    const p = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./support/shutdown-child.ts", import.meta.url))], { env: { ...process.env, ...env } });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((r) => p.on("exit", (code) => r(code)));
    return { p, lines: () => out.split("\n").filter(Boolean), exited };
  };
  // A second signal within 1 s is npm's copy of the first (host/shutdown.ts): wait it out.
  const pastDedupe = () => new Promise((r) => setTimeout(r, 1100));

  it("first drains, second hurries (the drain then ends: stop, exit 0)", async () => {
    const c = child({ HURRY_ENDS_DRAIN: "1" });
    await until(() => c.lines().includes("ready"), "the child", 20_000);
    c.p.kill("SIGTERM");
    await until(() => c.lines().includes("drain SIGTERM"), "the drain");
    await pastDedupe();
    c.p.kill("SIGINT");
    expect(await c.exited).toBe(0);
    expect(c.lines()).toEqual(["ready", "drain SIGTERM", "hurry", "stop"]);
  });

  it("a third signal exits 130 at once; a signal within 1 s of the last is ignored", async () => {
    const c = child();
    await until(() => c.lines().includes("ready"), "the child", 20_000);
    c.p.kill("SIGTERM");
    c.p.kill("SIGTERM"); // npm's copy
    await until(() => c.lines().includes("drain SIGTERM"), "the drain");
    await pastDedupe();
    c.p.kill("SIGTERM");
    await until(() => c.lines().includes("hurry"), "the hurry");
    await pastDedupe();
    c.p.kill("SIGTERM");
    expect(await c.exited).toBe(FORCED_EXIT_CODE);
    expect(c.lines()).toEqual(["ready", "drain SIGTERM", "hurry"]);
  });
});

/** Launch → registered, a few runs, each with the host's timeline: where a start spends its time. */
import { readFileSync, rmSync } from "node:fs";
import { PROFILES, Stack } from "./stack.ts";

const runs = Number(process.argv[2] ?? 3);
const hostLog = `/tmp/rc-voice-host-timeline-${process.pid}.log`;
process.env.BENCH_HOST_LOG_LEVEL = "info";
const s = await Stack.start({ host: hostLog, twin: `/tmp/rc-voice-host-timeline-twin-${process.pid}.log` });
try {
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const { host, cache } = s.newHost(PROFILES[0]);
    await host.start();
    const ms = performance.now() - t0;
    await host.stop();
    rmSync(cache, { force: true });
    const ready = readFileSync(hostLog, "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((l) => l.msg === "host: ready").at(-1);
    console.log(`run ${i + 1}: ${ms.toFixed(0)} ms`, JSON.stringify(ready?.timelineMs));
  }
} finally {
  await s.stop();
  rmSync(hostLog, { force: true });
}

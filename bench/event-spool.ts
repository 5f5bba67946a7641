/**
 * `npx tsx bench/event-spool.ts [outageS]`: what call events cost the host and how they come
 * back after an outage, on this machine's disk.
 *   - emit: the synchronous part an event costs its caller (the call logic), per event;
 *   - spool write: one append (write, fdatasync, close), as rcvh_events_spool_write_ms sees it;
 *   - outage: a receiver refusing (503) for outageS seconds while 30 events are emitted, then
 *     accepting: how long from its return until the backlog is empty, with the host's backoff.
 * Reports; never fails.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { EventDelivery } from "../host/event-delivery.ts";
import { EventSpool } from "../host/event-spool.ts";
import { Events } from "../host/events.ts";
import { summarize } from "./stats.ts";

const N = 500;
const secret = `whsec_${Buffer.alloc(32, 3).toString("base64")}`;
const outageS = Number(process.argv[2] ?? 10);
// About a call.ended with its quality summary.
const data = { callId: "0d6f1c7e-8f37-4b55-9d0e-5a2b9e3f4c11", direction: "inbound", from: "+15550007000", to: "16505550100", telephonySessionId: "s-a0b6e7b894e1za6c0c93896z9879493b0000", partyId: "p-1", endReason: "remote-hangup", codec: "PCMU", ringMs: 812, talkMs: 48_113, durationMs: 48_925, quality: { codec: "PCMU", samples: 24, jitterMs: 1, maxJitterMs: 2.5, meanJitterMs: 1.1, packetsReceived: 2400, packetsLost: 0, lossFraction: 0, rttMs: 1.6, jitterBufferMs: 38, concealedSamples: 0, concealedFraction: 0, sampledAt: new Date().toISOString() } };

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "bench-spool-"));
  const writes: number[] = [];
  const spool = await EventSpool.open(dir, { maxEvents: 100_000, maxBytes: 1 << 30 }, () => {}, (ms) => writes.push(ms));
  const events = new Events((e) => void spool.append(e), "bench");
  const emits: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    events.emit("call.ended", data);
    emits.push(performance.now() - t0);
    // A few events per call, calls seconds apart: appends one after another, not a burst.
    await spool.flush();
  }
  const e = summarize(emits);
  const w = summarize(writes);
  console.log(`emit (sync, per event)      n=${e.n} p50=${e.p50.toFixed(3)} ms p95=${e.p95.toFixed(3)} ms max=${e.max.toFixed(3)} ms`);
  console.log(`spool write (append+fsync)  n=${w.n} p50=${w.p50.toFixed(2)} ms p95=${w.p95.toFixed(2)} ms max=${w.max.toFixed(2)} ms`);
  await rm(dir, { recursive: true, force: true });

  // The outage.
  let up = false;
  let accepted = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (up) accepted++;
      res.writeHead(up ? 204 : 503).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const dir2 = await mkdtemp(join(tmpdir(), "bench-outage-"));
  const spool2 = await EventSpool.open(dir2, { maxEvents: 100_000, maxBytes: 1 << 30 });
  let failed = 0;
  const delivery = new EventDelivery({ url, secret, spool: spool2, log: pino({ level: "silent" }), counters: { delivered: () => {}, failed: () => failed++, dropped: () => {} } });
  delivery.start();
  const ev2 = new Events((x) => void spool2.append(x), "bench");
  for (let i = 0; i < 30; i++) ev2.emit("call.ended", { ...data, n: i });
  await new Promise((r) => setTimeout(r, outageS * 1000));
  up = true;
  const t0 = performance.now();
  while (spool2.size > 0) await new Promise((r) => setTimeout(r, 10));
  console.log(`outage ${outageS} s: ${failed} refused attempts; after the receiver came back, 30 events delivered in ${Math.round(performance.now() - t0)} ms (accepted ${accepted})`);
  await delivery.stop();
  server.close();
  await rm(dir2, { recursive: true, force: true });
}

await main();

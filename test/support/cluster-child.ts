/**
 * A cluster host in a process of its own, for the tests that kill one (SIGKILL: no cleanup, as a
 * crashed pod). It joins, takes a lease, answers the calls named in CALLS (comma-separated
 * telephonySessionIds, ringing only here), prints one JSON line with what it holds, then idles.
 */
import { ClusterTestHost, Line } from "./cluster-hosts.ts";

const host = await ClusterTestHost.start(process.env.REDIS_URL!, { hostId: process.env.HOST_ID!, extensionId: process.env.EXTENSION_ID!, slots: 4, bid: process.env.BID === "1" });
const line = new Line([host]);
const sessions = (process.env.CALLS ?? "").split(",").filter(Boolean);
for (const s of sessions) await line.ring(s);
const calls = host.calls.active().map((c) => ({ id: c.id, telephonySessionId: c.telephonySessionId, state: c.state }));
// The records are written as the calls change: wait until the cluster has them all.
for (;;) {
  const listed = (await host.cluster.listCalls()).filter((r) => r.owner === host.id && r.view.state === "answered");
  if (listed.length === sessions.length) break;
  await new Promise((r) => setTimeout(r, 20));
}
process.stdout.write(`${JSON.stringify({ ready: true, hostId: host.id, instanceId: host.instanceId, slot: host.cluster.status().instanceSlot, leading: host.leading, calls })}\n`);
setInterval(() => {}, 60_000);

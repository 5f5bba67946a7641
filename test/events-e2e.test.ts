/**
 * Call events out, end to end: real Chrome and WebRTC against the twin, a tone pipeline, and a
 * real HTTP receiver on loopback that verifies each Standard Webhooks signature with the library.
 * The receiver refuses the first deliveries (503): they are retried, in order, until accepted.
 * Then a restart: the host stops while the receiver is down, and the next start delivers what
 * the spool kept.
 */
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../host/log.ts";
import { eventSecret, startEventReceiver, type EventReceiver } from "./support/event-receiver.ts";
import { startStack, until, type Stack } from "./support/stack.ts";
import { speakTone, startTestPipeline } from "./support/twilio-pipeline.ts";

const secret = eventSecret();
/** The key part of the secret: what a leak would show. */
const key = secret.slice("whsec_".length);
const REFUSED = 3;
const API_TOKEN = "events-e2e-token-0123456789";

type Accepted = ReturnType<EventReceiver["accepted"]>[number];
/** The accepted events, one per webhook-id (what a receiver that dedupes keeps). */
const deduped = (r: EventReceiver): Accepted[] => [...new Map(r.accepted().map((e) => [e.id, e])).values()];
const ofType = (events: Accepted[], type: string, callId?: string) => events.filter((e) => e.type === type && (!callId || e.data.callId === callId));

describe("call events out (EVENTS_URL)", () => {
  let stack: Stack | undefined;
  let receiver: EventReceiver | undefined;
  let pipeline: Awaited<ReturnType<typeof startTestPipeline>> | undefined;
  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
    await pipeline?.close();
  });

  it("sends ringing, answered, ended (with the quality), recording.saved and registration.changed, signed, once each, after refusals", async () => {
    const dir = await mkdtemp(join(tmpdir(), "events-e2e-"));
    const logLines: string[] = [];
    receiver = await startEventReceiver(secret, (n) => (n <= REFUSED ? 503 : 204));
    pipeline = await startTestPipeline(() => speakTone(880));
    stack = await startStack({
      PIPELINE_URL: pipeline.url,
      RECORDINGS_DIR: join(dir, "recordings"),
      EVENTS_URL: receiver.url,
      EVENTS_SECRET: secret,
      EVENTS_SPOOL_DIR: join(dir, "spool"),
      API_TOKEN,
    }, {}, { log: createLogger("debug", { destination: { write: (line: string) => void logLines.push(line) } }) });
    const placed = await stack.placeCall({ from: "+15550007000", play: "tone:440", hangupAfterMs: 5000 });
    const call = await until(() => stack!.host.calls.byTelephonySession(placed.telephonySessionId), "the host's call");
    await until(() => ofType(deduped(receiver!), "recording.saved", call.id).length, "recording.saved to be delivered", 30_000);

    const events = deduped(receiver);
    // Every delivery verified; the first ones were refused and came again with the same webhook-id.
    expect(receiver.deliveries.every((d) => d.verified)).toBe(true);
    expect(receiver.deliveries.slice(0, REFUSED).map((d) => d.status)).toEqual([503, 503, 503]);
    expect(new Set(receiver.deliveries.slice(0, REFUSED + 1).map((d) => d.id)).size).toBe(1);
    for (const type of ["call.ringing", "call.answered", "call.ended", "recording.saved"]) expect(ofType(events, type, call.id), type).toHaveLength(1);
    expect(ofType(events, "registration.changed").map((e) => e.data.registered)).toEqual([true]);
    // At-least-once: an id accepted twice is allowed, a second id for one happening is not (checked above).
    expect(events.map((e) => e.type).slice(0, 5)).toEqual(["registration.changed", "call.ringing", "call.answered", "call.ended", "recording.saved"]);

    const ended = ofType(events, "call.ended", call.id)[0].data;
    expect(ended).toMatchObject({ direction: "inbound", from: "+15550007000", endReason: "remote-hangup", codec: "PCMU", telephonySessionId: placed.telephonySessionId });
    // Which host saw it: the hostname on a host of its own.
    expect(ended.hostId).toBe(hostname());
    expect(ended.talkMs).toBeGreaterThan(3000);
    expect(ended.durationMs).toBeGreaterThanOrEqual(ended.talkMs);
    const q = ended.quality;
    expect(q).toMatchObject({ codec: "PCMU", lossFraction: 0, packetsLost: 0 });
    expect(q.samples).toBeGreaterThanOrEqual(1);
    expect(q.jitterMs).toBeGreaterThanOrEqual(0);
    expect(q.maxJitterMs).toBeLessThan(100);
    // 50 packets a second for the seconds sampled.
    expect(q.packetsReceived).toBeGreaterThan(50);
    expect(q.jitterBufferMs).toBeGreaterThan(0);
    expect(q.jitterBufferMs).toBeLessThan(500);
    if (q.rttMs !== null) expect(q.rttMs).toBeLessThan(200);

    // The same quality on the Call record, in the recording's metadata, and in /metrics.
    const view = (await (await fetch(`${stack.httpUrl}/calls/${call.id}`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).json()) as { quality: unknown };
    expect(view.quality).toEqual(q);
    const saved = ofType(events, "recording.saved", call.id)[0].data;
    expect(saved.metadataPath).toBe(`${saved.path}.json`);
    const meta = JSON.parse(await readFile(saved.metadataPath, "utf8"));
    expect(meta).toMatchObject({ callId: call.id, codec: "PCMU", endReason: "remote-hangup", quality: q });
    const metrics = await (await fetch(`${stack.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^rcvh_call_jitter_ms_count\{codec="pcmu"\} 1$/m);
    expect(metrics).toMatch(/^rcvh_call_packet_loss_ratio_bucket\{le="0",codec="pcmu"\} 1$/m);
    expect(metrics).toMatch(/^rcvh_events_failed_total\{reason="http-5xx"\} 3$/m);
    expect(metrics).toMatch(/^rcvh_events_delivered_total\{type="call.ended"\} 1$/m);
    await until(async () => /^rcvh_events_backlog 0$/m.test(await (await fetch(`${stack!.httpUrl}/metrics`)).text()), "the backlog to empty");
    expect(await readdir(join(dir, "spool"))).toEqual([]);

    // The secret reaches none of: the host's logs (debug), /metrics, the page, the recording's metadata, the events.
    const page = stack.host.chromePage()!;
    const pageText = await page.evaluate(() => [document.documentElement.outerHTML, location.href, JSON.stringify({ ...localStorage }), JSON.stringify({ ...sessionStorage })].join("\n"));
    expect(logLines.length).toBeGreaterThan(10);
    for (const [where, text] of [["logs", logLines.join("\n")], ["metrics", await (await fetch(`${stack.httpUrl}/metrics`)).text()], ["page", pageText], ["metadata", JSON.stringify(meta)], ["events", receiver.deliveries.map((d) => d.body).join("\n")]] as const) {
      expect(text, where).not.toContain(key);
    }
  }, 90_000);

  it("keeps the events of a host stopped while the receiver is down, and delivers them at the next start", async () => {
    await stack?.stop();
    stack = undefined;
    const dir = await mkdtemp(join(tmpdir(), "events-restart-"));
    const spool = join(dir, "spool");
    receiver!.respondWith(() => 503);
    const before = receiver!.deliveries.length;
    const env = { PIPELINE_URL: pipeline!.url, RECORDINGS_DIR: join(dir, "recordings"), EVENTS_URL: receiver!.url, EVENTS_SECRET: secret, EVENTS_SPOOL_DIR: spool };
    stack = await startStack(env);
    const placed = await stack.placeCall({ from: "+15550007001", play: "tone:440", hangupAfterMs: 3000 });
    const call = await until(() => stack!.host.calls.byTelephonySession(placed.telephonySessionId), "the host's call");
    await until(() => call.recording, "the recording to be saved", 20_000);
    await stack.stop();
    stack = undefined;
    // Refused all along: the first event was tried (more than once), and everything is on disk.
    const tried = receiver!.deliveries.slice(before);
    expect(tried.length).toBeGreaterThan(0);
    expect(tried.every((d) => d.status === 503)).toBe(true);
    const left = (await readdir(spool)).sort();
    // registered, ringing, answered, ended, recording.saved, unregistered.
    expect(left.length).toBe(6);
    const spooled = await Promise.all(left.map(async (f) => JSON.parse(await readFile(join(spool, f), "utf8")) as { id: string; type: string }));
    expect(spooled.map((e) => e.type)).toEqual(["registration.changed", "call.ringing", "call.answered", "call.ended", "recording.saved", "registration.changed"]);

    receiver!.respondWith(() => 204);
    stack = await startStack(env);
    const acceptedIds = () => new Set(receiver!.accepted().map((e) => e.id));
    await until(() => spooled.every((e) => acceptedIds().has(e.id)), "the spooled events to be delivered", 30_000);
    // In their order, each once, with the ids they were first tried with.
    const firstRun = deduped(receiver!).filter((e) => spooled.some((s) => s.id === e.id));
    expect(firstRun.map((e) => e.id)).toEqual(spooled.map((e) => e.id));
    expect(tried.every((d) => d.id === spooled[0].id)).toBe(true);
    expect(ofType(firstRun, "call.ended", call.id)[0].data.quality).toMatchObject({ codec: "PCMU", lossFraction: 0 });
    expect(firstRun.at(-1)!.data.registered).toBe(false);
    expect(receiver!.deliveries.every((d) => d.verified)).toBe(true);
  }, 120_000);
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { goertzel } from "../twin/caller/analysis.ts";
import { startStack, until, type Stack } from "./support/stack.ts";
import { startTestPipeline, type SeenStream } from "./support/twilio-pipeline.ts";
import { ALLOWED_DEVIATIONS, ALLOWED_EXTENSION_FIELDS, checkMarkReplies, checkToTwilio, checkTwilioStream } from "./support/twilio-spec.ts";

/*
 * Conformance to Twilio Media Streams as Twilio's public spec describes it
 * (https://www.twilio.com/docs/voice/media-streams/websocket-messages): first the checker itself,
 * on hand-made streams, then one whole call through the product (twin caller ⇄ Chrome ⇄ host ⇄
 * a test pipeline that talks back with media, marks and a clear).
 */

type Msg = Record<string, unknown>;

const SID = "MZ" + "0123456789abcdef".repeat(2);
const AC = "AC" + "a1".repeat(16);
const CA = "CA" + "b2".repeat(16);
const PAYLOAD_20MS = Buffer.alloc(160, 0xff).toString("base64");

/** A stream exactly as Twilio's examples shape it: connected, start, 5 media with a mark and a dtmf among them, stop. */
function goodStream(ids: { accountSid: string; callSid: string } = { accountSid: AC, callSid: CA }): Msg[] {
  let seq = 0;
  const next = () => String(++seq);
  const out: Msg[] = [{ event: "connected", protocol: "Call", version: "1.0.0" }];
  out.push({
    event: "start",
    sequenceNumber: next(),
    start: {
      accountSid: ids.accountSid,
      streamSid: SID,
      callSid: ids.callSid,
      tracks: ["inbound"],
      mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
      customParameters: { FirstName: "Jane", LastName: "Doe", RemoteParty: "Bob" },
    },
    streamSid: SID,
  });
  for (let chunk = 1; chunk <= 5; chunk++) {
    out.push({ event: "media", sequenceNumber: next(), media: { track: "inbound", chunk: String(chunk), timestamp: String((chunk - 1) * 20), payload: PAYLOAD_20MS }, streamSid: SID });
    if (chunk === 2) out.push({ event: "mark", sequenceNumber: next(), streamSid: SID, mark: { name: "my label" } });
    if (chunk === 3) out.push({ event: "dtmf", streamSid: SID, sequenceNumber: next(), dtmf: { track: "inbound_track", digit: "1" } });
  }
  out.push({ event: "stop", sequenceNumber: next(), stop: { accountSid: ids.accountSid, callSid: ids.callSid }, streamSid: SID });
  return out;
}

/** The same object with its keys in another order. */
const reorder = (o: Msg, keys: string[]): Msg => Object.fromEntries(keys.map((k) => [k, o[k]]));
const idx = (s: Msg[], event: string, nth = 0) => s.map((m, i) => (m.event === event ? i : -1)).filter((i) => i >= 0)[nth];
const inner = (m: Msg, key: string) => m[key] as Msg;
/** Renumbers sequenceNumber "1","2",… after connected, so a structural mutation is judged on structure alone. */
const renumber = (s: Msg[]) => {
  let n = 0;
  for (const m of s) if (m.event !== "connected") m.sequenceNumber = String(++n);
  return s;
};

describe("checkTwilioStream (the checker, on hand-made streams)", () => {
  it("passes a stream shaped exactly like Twilio's examples, to the letter (no deviation allowed)", () => {
    expect(checkTwilioStream(goodStream(), { allow: [] })).toEqual([]);
  });

  it("allows only the listed deviations, and no extension fields", () => {
    expect(ALLOWED_EXTENSION_FIELDS).toEqual([]);
    expect(ALLOWED_DEVIATIONS.map((d) => d.id)).toEqual(["ringcentral-ids"]);
    const rc = goodStream({ accountSid: "400000000", callSid: "s-a0b1c2d3e4f5" });
    expect(checkTwilioStream(rc)).toEqual([]);
    const strict = checkTwilioStream(rc, { allow: [] });
    expect(strict).toHaveLength(4);
    for (const path of ["start.accountSid", "start.callSid", "stop.accountSid", "stop.callSid"]) expect(strict.some((p) => p.includes(path))).toBe(true);
    // The deviation forgives the format only: a missing or non-string id is still a violation.
    const missing = goodStream();
    delete inner(missing[idx(missing, "stop")], "stop").callSid;
    expect(checkTwilioStream(missing).join("\n")).toMatch(/stop\.callSid/);
    expect(() => checkTwilioStream(goodStream(), { allow: ["no-such-deviation"] })).toThrow(/unknown deviation/);
  });

  it("takes start.customParameters as free-form (any keys, any order)", () => {
    const s = goodStream();
    inner(s[1], "start").customParameters = { zeta: "1", alpha: "2", "X-Anything": "" };
    expect(checkTwilioStream(s, { allow: [] })).toEqual([]);
  });

  const bad: Array<[string, (s: Msg[]) => Msg[] | void, RegExp]> = [
    // The shape of the stream
    ["an empty stream", (s) => void s.splice(0), /empty stream/],
    ["no connected first", (s) => s.slice(1), /first message must be connected/],
    ["connected sent again", (s) => void s.splice(3, 0, { event: "connected", protocol: "Call", version: "1.0.0" }), /connected: sent again/],
    ["connected with a sequenceNumber", (s) => void (s[0].sequenceNumber = "0"), /#0 connected: \(message\): Unrecognized key: "sequenceNumber"/],
    ["no start", (s) => renumber(s.filter((m) => m.event !== "start")), /no start message/],
    ["start twice", (s) => renumber([...s.slice(0, 2), structuredClone(s[1]), ...s.slice(2)]), /start sent 2 times/],
    ["media before start", (s) => renumber([s[0], s[2], s[1], ...s.slice(3)]), /#1 media: before start/],
    ["no stop", (s) => s.filter((m) => m.event !== "stop"), /no stop message/],
    ["stop twice", (s) => renumber([...s, structuredClone(s.at(-1)!)]), /stop sent 2 times/],
    ["media after stop", (s) => renumber([...s.slice(0, -2), s.at(-1)!, s.at(-2)!]), /media: after stop|stop: must be the last message/],
    ["an event Twilio never sends", (s) => void s.splice(4, 0, { event: "clear", sequenceNumber: "99", streamSid: SID }), /event "clear" is not one Twilio sends/],
    ["not an object", (s) => void s.splice(4, 0, "media" as unknown as Msg), /#4: not a JSON object/],
    // sequenceNumber
    ["sequenceNumber as a number", (s) => void (s[2].sequenceNumber = 2), /#2 media: sequenceNumber is a number, Twilio sends a string/],
    ["start not \"1\"", (s) => void s.slice(1).forEach((m) => (m.sequenceNumber = String(Number(m.sequenceNumber) + 1))), /#1 start: sequenceNumber "2", expected "1"/],
    ["a gap in sequenceNumber", (s) => void s.slice(4).forEach((m) => (m.sequenceNumber = String(Number(m.sequenceNumber) + 1))), /#4 mark: sequenceNumber "5", expected "4"/],
    ["a repeated sequenceNumber", (s) => void (s[3].sequenceNumber = s[2].sequenceNumber), /#3 media: sequenceNumber "2", expected "3"/],
    ["sequenceNumber missing on mark", (s) => void delete s[idx(s, "mark")].sequenceNumber, /mark: sequenceNumber missing/],
    // media
    ["chunk not from \"1\"", (s) => void s.filter((m) => m.event === "media").forEach((m) => (inner(m, "media").chunk = String(Number(inner(m, "media").chunk) + 1))), /media: chunk "2", expected "1"/],
    ["chunk skips", (s) => void (inner(s[idx(s, "media", 2)], "media").chunk = "4"), /media: chunk "4", expected "3"/],
    ["chunk as a number", (s) => void (inner(s[2], "media").chunk = 1), /media\.chunk: Invalid input: expected string, received number/],
    ["timestamp as a number", (s) => void (inner(s[2], "media").timestamp = 0), /media\.timestamp: Invalid input: expected string, received number/],
    ["timestamp not an integer", (s) => void (inner(s[3], "media").timestamp = "20.5"), /media\.timestamp: must be a string of a non-negative integer/],
    ["timestamp going back", (s) => void (inner(s[idx(s, "media", 3)], "media").timestamp = "10"), /timestamp "10" goes back/],
    ["timestamp advancing 40 ms a chunk", (s) => void s.filter((m) => m.event === "media").forEach((m, i) => (inner(m, "media").timestamp = String(i * 40))), /advance 40\.00 ms a chunk on average/],
    ["timestamp jumping", (s) => void s.filter((m) => m.event === "media").forEach((m, i) => (inner(m, "media").timestamp = String(i * 20 + (i >= 2 ? 200 : 0)))), /timestamp jumps 220 ms/],
    ["payload of 10 ms", (s) => void (inner(s[2], "media").payload = Buffer.alloc(80).toString("base64")), /payload is 80 bytes; 20 ms of audio\/x-mulaw at 8000 Hz is 160/],
    ["payload not base64", (s) => void (inner(s[2], "media").payload = "not base64!"), /media\.payload: must be base64/],
    ["outbound media on an inbound-only stream", (s) => void (inner(s[2], "media").track = "outbound"), /track "outbound" is not among start\.tracks/],
    ["an extension field in media", (s) => void (inner(s[2], "media").sampleRate = 8000), /media: Unrecognized key: "sampleRate"/],
    ["an extension field at the top", (s) => void (s[2].callSid = CA), /#2 media: \(message\): Unrecognized key: "callSid"/],
    // streamSid
    ["another streamSid in one message", (s) => void (s[3].streamSid = "MZ" + "f".repeat(32)), /#3 media: streamSid "MZf+", not the stream's MZ/],
    ["start.streamSid unlike the top-level one", (s) => void (inner(s[1], "start").streamSid = "MZ" + "e".repeat(32)), /start: streamSid "MZ0123.*" differs from start\.streamSid/],
    ["a streamSid not MZ + 32 hex", (s) => void s.slice(1).forEach((m) => ((m.streamSid = "stream-1"), m.start && (inner(m, "start").streamSid = "stream-1"))), /streamSid: must be "MZ" \+ 32 hex digits/],
    ["streamSid missing on dtmf", (s) => void delete s[idx(s, "dtmf")].streamSid, /#\d+ dtmf: streamSid undefined/],
    // start
    ["tracks with outbound", (s) => void (inner(s[1], "start").tracks = ["inbound", "outbound"]), /tracks \["inbound","outbound"\], expected \["inbound"\]/],
    ["sampleRate as a string", (s) => void (inner(inner(s[1], "start"), "mediaFormat").sampleRate = "8000"), /start\.mediaFormat\.sampleRate: Invalid input: expected 8000/],
    ["channels 2", (s) => void (inner(inner(s[1], "start"), "mediaFormat").channels = 2), /start\.mediaFormat\.channels: Invalid input: expected 1/],
    ["encoding audio/x-l16", (s) => void (inner(inner(s[1], "start"), "mediaFormat").encoding = "audio/x-l16"), /start\.mediaFormat\.encoding: Invalid input: expected "audio\/x-mulaw"/],
    ["customParameters missing", (s) => void delete inner(s[1], "start").customParameters, /start\.customParameters: Invalid input/],
    ["customParameters with a non-string value", (s) => void (inner(s[1], "start").customParameters = { n: 1 }), /start\.customParameters\.n: Invalid input: expected string/],
    // stop
    ["stop naming another call", (s) => void (inner(s.at(-1)!, "stop").callSid = "CA" + "c".repeat(32)), /stop\.callSid "CAc+" differs from start\.callSid/],
    ["stop naming another account", (s) => void (inner(s.at(-1)!, "stop").accountSid = "AC" + "c".repeat(32)), /stop\.accountSid "ACc+" differs from start\.accountSid/],
    ["stop without stop.callSid", (s) => void delete inner(s.at(-1)!, "stop").callSid, /stop\.callSid: Invalid input: expected string, received undefined/],
    // dtmf and mark
    ["dtmf on track inbound", (s) => void (inner(s[idx(s, "dtmf")], "dtmf").track = "inbound"), /dtmf\.track: Invalid input: expected "inbound_track"/],
    ["dtmf with two digits", (s) => void (inner(s[idx(s, "dtmf")], "dtmf").digit = "12"), /dtmf\.digit: must be one DTMF key/],
    ["mark without a name", (s) => void delete inner(s[idx(s, "mark")], "mark").name, /mark\.name: Invalid input: expected string/],
    // Key order, at every level
    [
      "start with customParameters before mediaFormat",
      (s) => void (s[1].start = reorder(inner(s[1], "start"), ["accountSid", "streamSid", "callSid", "tracks", "customParameters", "mediaFormat"])),
      /#1 start\.start: keys in order accountSid,streamSid,callSid,tracks,customParameters,mediaFormat; Twilio's example orders them accountSid,streamSid,callSid,tracks,mediaFormat,customParameters/,
    ],
    ["media with streamSid before media", (s) => void (s[2] = reorder(s[2], ["event", "sequenceNumber", "streamSid", "media"])), /#2 media: keys in order event,sequenceNumber,streamSid,media/],
    ["media.payload before media.track", (s) => void (s[2].media = reorder(inner(s[2], "media"), ["payload", "track", "chunk", "timestamp"])), /#2 media\.media: keys in order payload,track,chunk,timestamp/],
    ["mediaFormat reordered", (s) => void (inner(s[1], "start").mediaFormat = reorder(inner(inner(s[1], "start"), "mediaFormat"), ["channels", "sampleRate", "encoding"])), /start\.start\.mediaFormat: keys in order channels,sampleRate,encoding/],
    ["dtmf with sequenceNumber before streamSid", (s) => void (s[idx(s, "dtmf")] = reorder(s[idx(s, "dtmf")], ["event", "sequenceNumber", "streamSid", "dtmf"])), /dtmf: keys in order event,sequenceNumber,streamSid,dtmf; Twilio's example orders them event,streamSid,sequenceNumber,dtmf/],
    ["mark with streamSid first", (s) => void (s[idx(s, "mark")] = reorder(s[idx(s, "mark")], ["event", "streamSid", "sequenceNumber", "mark"])), /mark: keys in order event,streamSid,sequenceNumber,mark/],
    ["stop with callSid before accountSid", (s) => void (s[s.length - 1].stop = reorder(inner(s.at(-1)!, "stop"), ["callSid", "accountSid"])), /stop\.stop: keys in order callSid,accountSid/],
    ["connected reordered", (s) => void (s[0] = reorder(s[0], ["event", "version", "protocol"])), /#0 connected: keys in order event,version,protocol/],
  ];

  it.each(bad)("detects %s", (_name, mutate, expected) => {
    const s = goodStream();
    const result = mutate(s) ?? s;
    const violations = checkTwilioStream(result, { allow: [] });
    expect(violations.join("\n")).toMatch(expected);
  });
});

describe("checkMarkReplies and checkToTwilio (the checkers, on hand-made messages)", () => {
  const mark = (name: string) => ({ event: "mark", streamSid: SID, mark: { name } });
  const back = (name: string) => ({ event: "mark", sequenceNumber: "9", streamSid: SID, mark: { name } });

  it("passes marks returned once each, in order", () => {
    expect(checkMarkReplies([mark("a"), mark("b")], [back("a"), back("b")])).toEqual([]);
  });
  it("detects a mark never returned, returned twice, never sent, or out of order", () => {
    expect(checkMarkReplies([mark("a"), mark("b")], [back("a")])).toEqual(['mark "b" never came back']);
    expect(checkMarkReplies([mark("a")], [back("a"), back("a")])).toEqual(['mark "a" came back more often than it was sent']);
    expect(checkMarkReplies([mark("a")], [back("a"), back("z")])).toEqual(['mark "z" came back but was never sent']);
    expect(checkMarkReplies([mark("a"), mark("b")], [back("b"), back("a")])).toEqual(['mark "b" came back before "a" sent ahead of it']);
  });
  it("passes what Twilio accepts and detects what it does not", () => {
    const good = [{ event: "media", streamSid: SID, media: { payload: PAYLOAD_20MS } }, mark("a"), { event: "clear", streamSid: SID }];
    expect(checkToTwilio(good, SID)).toEqual([]);
    expect(checkToTwilio([{ event: "media", media: { payload: PAYLOAD_20MS }, streamSid: SID }], SID).join()).toMatch(/keys in order event,media,streamSid/);
    expect(checkToTwilio([{ event: "clear", streamSid: "MZ" + "f".repeat(32) }], SID).join()).toMatch(/not the stream's/);
    expect(checkToTwilio([{ event: "hangup", streamSid: SID }], SID).join()).toMatch(/accepts media, mark and clear only/);
    expect(checkToTwilio([{ event: "mark", streamSid: SID, mark: {} }], SID).join()).toMatch(/mark\.name/);
  });
});

/** A pipeline that talks back the way Twilio's bidirectional docs describe: media, marks, clear. */
interface Conversation {
  sent: Array<{ msg: unknown; atMs: number }>;
  t: { firstCallerMedia?: number; batch1?: number; batch2?: number; clear?: number; batch3?: number };
  done: Promise<void>;
  error?: unknown;
}

const TONE_DBFS = -12;
function tone(hz: number, ms: number): Int16Array {
  const out = new Int16Array((8000 * ms) / 1000);
  const amp = 32767 * 10 ** (TONE_DBFS / 20);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(amp * Math.sin((2 * Math.PI * hz * i) / 8000));
  return out;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `mediaUp`: whether the call's media is up (ICE/DTLS connected), which is when playout starts. */
function converse(stream: SeenStream, conv: Conversation, mediaUp: () => boolean): () => void {
  let over = false;
  const rawSend = stream.send;
  stream.send = (msg) => {
    if (over) return;
    conv.sent.push({ msg, atMs: Date.now() });
    rawSend(msg);
  };
  const sid = stream.start!.streamSid;
  const mark = (name: string) => stream.send({ event: "mark", streamSid: sid, mark: { name } });
  const run = async () => {
    // Talk once the call's media is up. Not at the first caller media message: those flow from the
    // answer on, before ICE/DTLS are up, and audio sent then waits, which would shift every time below.
    await until(() => over || mediaUp(), "the call's media to be up");
    conv.t.firstCallerMedia = Date.now();
    // 1: 400 ms, mark a, 200 ms, mark b — each mark should come back once its audio has played.
    conv.t.batch1 = Date.now();
    stream.sendPcm(tone(880, 400));
    mark("a-after-400ms");
    stream.sendPcm(tone(880, 200));
    mark("b-after-600ms");
    await sleep(900);
    // 2: 3 s of 1320 Hz and two marks behind it, then a clear 300 ms in: both marks come back at once.
    conv.t.batch2 = Date.now();
    stream.sendPcm(tone(1320, 3000));
    mark("c-cleared");
    mark("d-cleared");
    await sleep(300);
    conv.t.clear = Date.now();
    stream.send({ event: "clear", streamSid: sid });
    await sleep(150);
    // 3: after the clear, marks still follow their audio.
    conv.t.batch3 = Date.now();
    stream.sendPcm(tone(880, 200));
    mark("e-after-clear");
  };
  conv.done = run().catch((err: unknown) => void (conv.error = err));
  return () => void (over = true);
}

describe("Twilio Media Streams conformance: one whole call", () => {
  const FROM = "+15550000321";
  let pipeline: Awaited<ReturnType<typeof startTestPipeline>>;
  let stack: Stack;
  const conv: Conversation = { sent: [], t: {}, done: Promise.resolve() };

  beforeAll(async () => {
    const mediaUp = (callSid: string) => () => Boolean(stack.host.calls.byTelephonySession(callSid)?.mediaConnectedAtMs);
    pipeline = await startTestPipeline((start) => (start.customParameters.from === FROM ? (s) => converse(s, conv, mediaUp(start.callSid)) : undefined));
    stack = await startStack({ PIPELINE_URL: pipeline.url });
  });
  afterAll(async () => {
    await stack?.stop();
    await pipeline?.close();
  });

  it("sends a stream Twilio could have sent, and returns marks as Twilio does", async () => {
    const placed = await stack.placeCall({ from: FROM, play: "tone:440" });
    const stream = await until(() => pipeline.streams.find((s) => s.start?.callSid === placed.telephonySessionId), "the stream");
    // The caller hangs up once the conversation is over: the last mark is back, and the recording
    // runs 1 s past the clear (the silence after it is measured below).
    await conv.done;
    expect(conv.error).toBeUndefined();
    // (If it never comes, checkMarkReplies below says which mark is missing.)
    await until(() => stream.messages.some((m) => m.event === "mark" && (m.mark as { name: string }).name === "e-after-clear"), "the last mark", 10_000).catch(() => {});
    await until(() => Date.now() >= conv.t.clear! + 1000, "1 s after the clear");
    await stack.hangupFromCaller(placed.callId);
    await until(() => stream.stopped && stream.closedAtMs, "stop and close");
    const t = conv.t as Required<Conversation["t"]>;
    const sid = stream.start!.streamSid;

    // The whole stream, as Twilio's spec has it (the only deviation forgiven: RingCentral ids).
    // Soft: a violation here must not hide what the checks below find.
    const violations = checkTwilioStream(stream.messages);
    expect.soft(violations, violations.slice(0, 20).join("\n")).toEqual([]);
    expect(stream.messages.filter((m) => m.event === "media").length).toBeGreaterThan(50);

    // What the test pipeline sent is what Twilio accepts (so the host was asked in Twilio's terms).
    expect(checkToTwilio(conv.sent.map((s) => s.msg), sid)).toEqual([]);

    // Every mark came back once, by name, in order.
    expect(checkMarkReplies(conv.sent.map((s) => s.msg), stream.messages)).toEqual([]);
    const backAt = (name: string) => {
      const i = stream.messages.findIndex((m) => m.event === "mark" && (m.mark as { name: string }).name === name);
      return stream.receivedAtMs[i];
    };
    // "…to be notified when the audio that you have sent has been completed": not before that
    // audio could have played in real time (5 ms for timer granularity), nor very long after.
    const EARLY_SLACK_MS = 5;
    const LATE_MS = 1000;
    const timing = {
      a: backAt("a-after-400ms") - t.batch1,
      b: backAt("b-after-600ms") - t.batch1,
      c: backAt("c-cleared") - t.clear,
      d: backAt("d-cleared") - t.clear,
      e: backAt("e-after-clear") - t.batch3,
    };
    console.log(`marks back (ms): a ${timing.a} after batch 1, b ${timing.b}, c ${timing.c} after clear, d ${timing.d}, e ${timing.e} after batch 3; caller media began ${t.firstCallerMedia - stream.receivedAtMs[1]} ms after start`);
    expect(timing.a).toBeGreaterThanOrEqual(400 - EARLY_SLACK_MS);
    expect(timing.a).toBeLessThan(400 + LATE_MS);
    expect(timing.b).toBeGreaterThanOrEqual(600 - EARLY_SLACK_MS);
    expect(timing.b).toBeLessThan(600 + LATE_MS);
    // On clear, the pending marks come back at once (their 3 s of audio is never played).
    expect(timing.c).toBeGreaterThanOrEqual(0);
    expect(timing.c).toBeLessThan(300);
    expect(timing.d).toBeGreaterThanOrEqual(timing.c);
    expect(timing.d).toBeLessThan(300);
    expect(timing.e).toBeGreaterThanOrEqual(200 - EARLY_SLACK_MS);
    expect(timing.e).toBeLessThan(200 + LATE_MS);

    // "This empties all buffered audio": the caller heard 1320 Hz before the clear, and none after it.
    const rec = await stack.recording(placed.callId);
    const endMs = rec.startedAtMs + (rec.samples.length * 1000) / rec.rate;
    const levelDb = (hz: number, fromMs: number, toMs: number) => {
      const from = Math.max(0, Math.round(((fromMs - rec.startedAtMs) * rec.rate) / 1000));
      const to = Math.min(rec.samples.length, Math.round(((toMs - rec.startedAtMs) * rec.rate) / 1000));
      return 10 * Math.log10(goertzel(rec.samples, from, to - from, hz, rec.rate) + 1e-20);
    };
    expect(endMs - (t.clear + 300)).toBeGreaterThan(400);
    expect(levelDb(1320, t.batch2 + 150, t.clear)).toBeGreaterThan(TONE_DBFS - 10);
    expect(levelDb(1320, t.clear + 300, endMs - 20)).toBeLessThan(-45);
  });
});

import { z } from "zod";

/**
 * Twilio Media Streams, as Twilio's public specification describes it, for conformance tests.
 *
 * Source: "Media Streams - WebSocket Messages",
 * https://www.twilio.com/docs/voice/media-streams/websocket-messages (every message, field and
 * example below), and the Streams subresource, https://www.twilio.com/docs/voice/api/stream-resource
 * (SID patterns: `^MZ[0-9a-fA-F]{32}$`, `^AC…`, `^CA…`).
 *
 * Everything here is written from the spec, never from our sender (bridge/pipeline/twilio.ts):
 * the sender is what these schemas judge.
 */

// ---------------------------------------------------------------------------------------------
// Identifiers and scalar formats
// ---------------------------------------------------------------------------------------------

/** Stream resource: "sid SID<MZ> … Pattern: ^MZ[0-9a-fA-F]{32}$". */
export const STREAM_SID = /^MZ[0-9a-fA-F]{32}$/;
/** Stream resource: "accountSid SID<AC> … Pattern: ^AC[0-9a-fA-F]{32}$". */
export const ACCOUNT_SID = /^AC[0-9a-fA-F]{32}$/;
/** Stream resource: "callSid SID<CA> … Pattern: ^CA[0-9a-fA-F]{32}$". */
export const CALL_SID = /^CA[0-9a-fA-F]{32}$/;

/** Every counter in Twilio's examples is a JSON string of a decimal integer ("sequenceNumber": "1", "chunk": "1"). */
const counter = z.string().regex(/^[1-9][0-9]*$/, "must be a string of a positive integer, as in Twilio's examples (\"1\", \"2\", …)");
/** "media.timestamp": "Presentation Timestamp in Milliseconds from the start of the stream" — a string in the examples ("5"). */
const millis = z.string().regex(/^(0|[1-9][0-9]*)$/, "must be a string of a non-negative integer of milliseconds");
/** Base64 as the payloads are: "Raw audio in encoded in base64". */
const base64 = z.string().regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, "must be base64");

const streamSid = z.string().regex(STREAM_SID, "must be \"MZ\" + 32 hex digits (Twilio's Stream SID)");
const accountSid = z.string().regex(ACCOUNT_SID, "must be \"AC\" + 32 hex digits (Twilio's Account SID)");
const callSid = z.string().regex(CALL_SID, "must be \"CA\" + 32 hex digits (Twilio's Call SID)");

// ---------------------------------------------------------------------------------------------
// Messages Twilio sends (strict: a key the spec does not list is a violation)
// ---------------------------------------------------------------------------------------------

/** "Twilio sends the connected event once a WebSocket connection is established. This is the first message your WebSocket server receives." No sequenceNumber, no streamSid. */
export const ConnectedMessage = z.strictObject({
  event: z.literal("connected"),
  protocol: z.literal("Call"),
  version: z.literal("1.0.0"),
});

/** "The start message … is sent immediately after the connected message. It is only sent once at the start of the Stream." */
export const StartMessage = z.strictObject({
  event: z.literal("start"),
  sequenceNumber: counter,
  start: z.strictObject({
    accountSid,
    streamSid,
    callSid,
    /** "An array of strings that indicate which media flows are expected in subsequent messages. Values include inbound, outbound." */
    tracks: z.array(z.enum(["inbound", "outbound"])).min(1),
    mediaFormat: z.strictObject({
      /** "Value is always audio/x-mulaw." */
      encoding: z.literal("audio/x-mulaw"),
      /** "Value is always 8000" — a JSON number in the example. */
      sampleRate: z.literal(8000),
      /** "Value is always 1" — a JSON number in the example. */
      channels: z.literal(1),
    }),
    /** "An object containing the custom parameters that were set when defining the Stream": free-form (TwiML <Parameter name value>, so strings). */
    customParameters: z.record(z.string(), z.string()),
  }),
  streamSid,
});

/** "This message type encapsulates the raw audio data." */
export const MediaMessage = z.strictObject({
  event: z.literal("media"),
  sequenceNumber: counter,
  media: z.strictObject({
    /** "One of inbound or outbound" */
    track: z.enum(["inbound", "outbound"]),
    /** "The chunk for the message. The first message will begin with 1 and increment with each subsequent message." */
    chunk: counter,
    timestamp: millis,
    payload: base64,
  }),
  streamSid,
});

/** "The dtmf message is currently only supported in bidirectional Streams." */
export const DtmfMessage = z.strictObject({
  event: z.literal("dtmf"),
  streamSid,
  sequenceNumber: counter,
  dtmf: z.strictObject({
    /** "The track on which the DTMF key was pressed. Value is always inbound_track" */
    track: z.literal("inbound_track"),
    /** "The number-key tone detected" (one key; A-D let through: the spec does not rule them out). */
    digit: z.string().regex(/^[0-9*#A-D]$/, "must be one DTMF key"),
  }),
});

/** "Twilio sends a stop message when the Stream has stopped or the call has ended." */
export const StopMessage = z.strictObject({
  event: z.literal("stop"),
  sequenceNumber: counter,
  stop: z.strictObject({ accountSid, callSid }),
  streamSid,
});

/** "Twilio sends the mark event only during bidirectional Streams." */
export const MarkMessage = z.strictObject({
  event: z.literal("mark"),
  sequenceNumber: counter,
  streamSid,
  mark: z.strictObject({
    /** "A custom value. Twilio sends back the mark.name you specify when it receives a mark message" */
    name: z.string(),
  }),
});

export const FROM_TWILIO = {
  connected: ConnectedMessage,
  start: StartMessage,
  media: MediaMessage,
  dtmf: DtmfMessage,
  stop: StopMessage,
  mark: MarkMessage,
} as const;
export type FromTwilioEvent = keyof typeof FROM_TWILIO;

// ---------------------------------------------------------------------------------------------
// Messages Twilio accepts (bidirectional Streams: "<Connect><Stream>")
// ---------------------------------------------------------------------------------------------

/** "To send media back to Twilio, you must provide a properly formatted media message." payload: "Raw mulaw/8000 audio in encoded in base64". */
export const MediaToTwilio = z.strictObject({
  event: z.literal("media"),
  streamSid,
  media: z.strictObject({ payload: base64 }),
});

/** "Send a mark event message after sending a media event message to be notified when the audio that you have sent has been completed." */
export const MarkToTwilio = z.strictObject({
  event: z.literal("mark"),
  streamSid,
  mark: z.strictObject({ name: z.string() }),
});

/** "Send a clear message if you want to interrupt the audio … This empties all buffered audio and causes any mark messages to be sent back to your WebSocket server." */
export const ClearToTwilio = z.strictObject({
  event: z.literal("clear"),
  streamSid,
});

export const TO_TWILIO = { media: MediaToTwilio, mark: MarkToTwilio, clear: ClearToTwilio } as const;

// ---------------------------------------------------------------------------------------------
// Key order: exactly as in Twilio's example messages, at every level
// ---------------------------------------------------------------------------------------------

export interface KeyOrder {
  keys: readonly string[];
  /** Key order inside nested objects (customParameters is free-form: not listed). */
  nested?: Readonly<Record<string, KeyOrder>>;
}

export const FROM_TWILIO_KEY_ORDER: Readonly<Record<FromTwilioEvent, KeyOrder>> = {
  connected: { keys: ["event", "protocol", "version"] },
  start: {
    keys: ["event", "sequenceNumber", "start", "streamSid"],
    nested: {
      start: {
        keys: ["accountSid", "streamSid", "callSid", "tracks", "mediaFormat", "customParameters"],
        nested: { mediaFormat: { keys: ["encoding", "sampleRate", "channels"] } },
      },
    },
  },
  media: { keys: ["event", "sequenceNumber", "media", "streamSid"], nested: { media: { keys: ["track", "chunk", "timestamp", "payload"] } } },
  // The dtmf example puts streamSid before sequenceNumber.
  dtmf: { keys: ["event", "streamSid", "sequenceNumber", "dtmf"], nested: { dtmf: { keys: ["track", "digit"] } } },
  stop: { keys: ["event", "sequenceNumber", "stop", "streamSid"], nested: { stop: { keys: ["accountSid", "callSid"] } } },
  // The mark example puts sequenceNumber, then streamSid, then mark.
  mark: { keys: ["event", "sequenceNumber", "streamSid", "mark"], nested: { mark: { keys: ["name"] } } },
};

export const TO_TWILIO_KEY_ORDER: Readonly<Record<keyof typeof TO_TWILIO, KeyOrder>> = {
  media: { keys: ["event", "streamSid", "media"], nested: { media: { keys: ["payload"] } } },
  mark: { keys: ["event", "streamSid", "mark"], nested: { mark: { keys: ["name"] } } },
  clear: { keys: ["event", "streamSid"] },
};

// ---------------------------------------------------------------------------------------------
// Allowed deviations: each one named, explained, and the exact fields and rule it forgives
// ---------------------------------------------------------------------------------------------

export interface AllowedDeviation {
  id: string;
  /** Dotted paths inside a message (as zod reports them). */
  paths: readonly string[];
  /** The zod issue code forgiven at those paths (never a missing field or a wrong JSON type). */
  code: "invalid_format";
  why: string;
}

/**
 * Extension fields our host adds to Twilio's messages: none (an extra key is always a violation;
 * start.customParameters is free-form by Twilio's own definition, so its keys are not extensions).
 */
export const ALLOWED_EXTENSION_FIELDS: readonly string[] = [];

/**
 * Deviations from Twilio the host makes on purpose. Keep this list short, and say why.
 * Only SID *formats* are here: the values are still required, still strings, still equal
 * between start and stop.
 */
export const ALLOWED_DEVIATIONS: readonly AllowedDeviation[] = [
  {
    id: "ringcentral-ids",
    paths: ["start.accountSid", "start.callSid", "stop.accountSid", "stop.callSid"],
    code: "invalid_format",
    why:
      "There is no Twilio account or call: accountSid carries the RingCentral account id and callSid the " +
      "RingCentral telephonySessionId (bridge/pipeline/session.ts StreamInfo.callSid), which the host's " +
      "Twilio-compatible REST route (host/twilio-rest.ts) looks calls up by. Twilio's formats are AC/CA + 32 hex.",
  },
];

export interface CheckOptions {
  /** Ids of ALLOWED_DEVIATIONS to forgive; default: all of them. Pass [] for Twilio to the letter. */
  allow?: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// The checker
// ---------------------------------------------------------------------------------------------

/** μ-law at 8000 Hz, 20 ms per media message: 160 bytes. */
const MULAW_20MS_BYTES = 160;
const CHUNK_MS = 20;
/** One step of media.timestamp between consecutive chunks: non-decreasing, and not a jump of more than 3 chunks' worth. */
const MAX_TIMESTAMP_STEP_MS = 60;
/** Over the whole stream, timestamps advance 20 ms per chunk within this much on average. */
const AVERAGE_STEP_TOLERANCE_MS = 2;

type Msg = Record<string, unknown>;
const isObject = (v: unknown): v is Msg => typeof v === "object" && v !== null && !Array.isArray(v);

function keyOrderViolations(value: Msg, order: KeyOrder, where: string): string[] {
  const out: string[] = [];
  const actual = Object.keys(value).filter((k) => order.keys.includes(k));
  const expected = order.keys.filter((k) => k in value);
  if (actual.join(",") !== expected.join(","))
    out.push(`${where}: keys in order ${actual.join(",")}; Twilio's example orders them ${expected.join(",")}`);
  for (const [key, inner] of Object.entries(order.nested ?? {})) {
    const v = value[key];
    if (isObject(v)) out.push(...keyOrderViolations(v, inner, `${where}.${key}`));
  }
  return out;
}

function schemaViolations(schema: z.ZodType, msg: unknown, label: string, allowed: readonly AllowedDeviation[]): string[] {
  const r = schema.safeParse(msg);
  if (r.success) return [];
  return r.error.issues
    .filter((issue) => {
      const path = issue.path.join(".");
      return !allowed.some((d) => d.code === issue.code && d.paths.includes(path));
    })
    .map((issue) => `${label}: ${issue.path.join(".") || "(message)"}: ${issue.message}`);
}

function eventOf(msg: unknown): string {
  return isObject(msg) && typeof msg.event === "string" ? msg.event : "?";
}

/**
 * Every way a whole stream, as a pipeline received it (JSON-parsed, in order), departs from
 * Twilio's specification. [] means conformant. Each violation names the message (#index, event).
 */
export function checkTwilioStream(messages: readonly unknown[], opts: CheckOptions = {}): string[] {
  const allowIds = opts.allow ?? ALLOWED_DEVIATIONS.map((d) => d.id);
  const unknownAllow = allowIds.filter((id) => !ALLOWED_DEVIATIONS.some((d) => d.id === id));
  if (unknownAllow.length) throw new Error(`unknown deviation ids: ${unknownAllow.join(", ")}`);
  const allowed = ALLOWED_DEVIATIONS.filter((d) => allowIds.includes(d.id));

  const v: string[] = [];
  if (messages.length === 0) return ["empty stream: Twilio's first message is connected"];

  // ---- per message: schema (fields, JSON types, nesting, no extras) and key order
  messages.forEach((msg, i) => {
    const label = `#${i} ${eventOf(msg)}`;
    if (!isObject(msg)) return void v.push(`#${i}: not a JSON object`);
    const ev = msg.event;
    if (typeof ev !== "string" || !(ev in FROM_TWILIO)) return void v.push(`${label}: event ${JSON.stringify(ev)} is not one Twilio sends (connected, start, media, dtmf, stop, mark)`);
    const event = ev as FromTwilioEvent;
    v.push(...schemaViolations(FROM_TWILIO[event], msg, label, allowed));
    v.push(...keyOrderViolations(msg, FROM_TWILIO_KEY_ORDER[event], label));
  });

  // ---- the shape of the stream: connected, start, (media | mark | dtmf)*, stop
  const events = messages.map(eventOf);
  if (events[0] !== "connected") v.push(`#0 ${events[0]}: the first message must be connected ("This is the first message your WebSocket server receives")`);
  events.forEach((e, i) => {
    if (e === "connected" && i !== 0) v.push(`#${i} connected: sent again (Twilio sends it once, first)`);
  });
  const starts = events.flatMap((e, i) => (e === "start" ? [i] : []));
  if (starts.length === 0) v.push("no start message");
  if (starts.length > 1) v.push(`start sent ${starts.length} times (#${starts.join(", #")}): "It is only sent once at the start of the Stream"`);
  if (starts.length && starts[0] !== 1) v.push(`#${starts[0]} start: must come right after connected ("sent immediately after the connected message")`);
  const stops = events.flatMap((e, i) => (e === "stop" ? [i] : []));
  if (stops.length === 0) v.push("no stop message at the end");
  if (stops.length > 1) v.push(`stop sent ${stops.length} times (#${stops.join(", #")})`);
  if (stops.length && stops[stops.length - 1] !== messages.length - 1) v.push(`#${stops[0]} stop: must be the last message (${messages.length - 1 - stops[0]} after it)`);
  events.forEach((e, i) => {
    if ((e === "media" || e === "mark" || e === "dtmf") && (starts.length === 0 || i < starts[0])) v.push(`#${i} ${e}: before start`);
    if ((e === "media" || e === "mark" || e === "dtmf" || e === "start") && stops.length && i > stops[0]) v.push(`#${i} ${e}: after stop`);
  });

  // ---- sequenceNumber: "The first message has a value of 1 and then is incremented for each
  //      subsequent message" — connected carries none, so start is "1", then every message +1.
  let expectedSeq = 1;
  messages.forEach((msg, i) => {
    if (!isObject(msg) || msg.event === "connected") return;
    const seq = msg.sequenceNumber;
    if (typeof seq !== "string") {
      if (seq === undefined) v.push(`#${i} ${eventOf(msg)}: sequenceNumber missing (expected "${expectedSeq}")`);
      else v.push(`#${i} ${eventOf(msg)}: sequenceNumber is a ${typeof seq}, Twilio sends a string ("${expectedSeq}")`);
      expectedSeq++;
      return;
    }
    if (seq !== String(expectedSeq)) v.push(`#${i} ${eventOf(msg)}: sequenceNumber "${seq}", expected "${expectedSeq}"`);
    expectedSeq = /^[0-9]+$/.test(seq) ? Number(seq) + 1 : expectedSeq + 1;
  });

  // ---- one stream, one streamSid: start.start.streamSid, repeated in every message after connected
  const start = starts.length ? (messages[starts[0]] as Msg) : undefined;
  const startBody = start && isObject(start.start) ? start.start : undefined;
  const sid = startBody?.streamSid;
  if (start && sid !== start.streamSid) v.push(`#${starts[0]} start: streamSid ${JSON.stringify(start.streamSid)} differs from start.streamSid ${JSON.stringify(sid)}`);
  if (typeof sid === "string") {
    messages.forEach((msg, i) => {
      if (!isObject(msg) || msg.event === "connected") return;
      if (msg.streamSid !== sid) v.push(`#${i} ${eventOf(msg)}: streamSid ${JSON.stringify(msg.streamSid)}, not the stream's ${sid}`);
    });
  }

  // ---- start: an inbound-only, μ-law 8 kHz mono stream (what <Connect><Stream> gives)
  if (startBody) {
    const tracks = startBody.tracks;
    if (JSON.stringify(tracks) !== JSON.stringify(["inbound"])) v.push(`#${starts[0]} start: tracks ${JSON.stringify(tracks)}, expected ["inbound"]`);
  }
  const tracks = Array.isArray(startBody?.tracks) ? (startBody.tracks as unknown[]) : ["inbound"];

  // ---- media: chunk "1","2",…; timestamp non-decreasing at ~20 ms a chunk; 160 bytes of μ-law
  let expectedChunk = 1;
  let first: { ts: number; chunk: number } | undefined;
  let prev: { ts: number; chunk: number; i: number } | undefined;
  messages.forEach((msg, i) => {
    if (!isObject(msg) || msg.event !== "media" || !isObject(msg.media)) return;
    const m = msg.media;
    if (typeof m.track === "string" && !tracks.includes(m.track)) v.push(`#${i} media: track ${JSON.stringify(m.track)} is not among start.tracks ${JSON.stringify(tracks)}`);
    if (m.chunk !== String(expectedChunk)) v.push(`#${i} media: chunk ${JSON.stringify(m.chunk)}, expected "${expectedChunk}" (from "1", +1 a message)`);
    const chunk = typeof m.chunk === "string" && /^[0-9]+$/.test(m.chunk) ? Number(m.chunk) : expectedChunk;
    expectedChunk = chunk + 1;
    if (typeof m.timestamp === "string" && /^(0|[1-9][0-9]*)$/.test(m.timestamp)) {
      const ts = Number(m.timestamp);
      if (prev) {
        const step = ts - prev.ts;
        if (step < 0) v.push(`#${i} media: timestamp "${ts}" goes back from "${prev.ts}" (#${prev.i})`);
        else if (step > MAX_TIMESTAMP_STEP_MS * Math.max(1, chunk - prev.chunk)) v.push(`#${i} media: timestamp jumps ${step} ms after #${prev.i} (20 ms a chunk expected)`);
      }
      first ??= { ts, chunk };
      prev = { ts, chunk, i };
    }
    if (typeof m.payload === "string") {
      const bytes = Buffer.from(m.payload, "base64");
      if (bytes.toString("base64") !== m.payload) v.push(`#${i} media: payload is not canonical base64`);
      else if (bytes.length !== MULAW_20MS_BYTES) v.push(`#${i} media: payload is ${bytes.length} bytes; 20 ms of audio/x-mulaw at 8000 Hz is ${MULAW_20MS_BYTES}`);
    }
  });
  if (first && prev && prev.chunk > first.chunk) {
    const avg = (prev.ts - first.ts) / (prev.chunk - first.chunk);
    if (Math.abs(avg - CHUNK_MS) > AVERAGE_STEP_TOLERANCE_MS) v.push(`media: timestamps advance ${avg.toFixed(2)} ms a chunk on average; 160 samples at 8000 Hz are 20 ms`);
  }

  // ---- stop names the same account and call as start
  if (startBody) {
    for (const i of stops) {
      const stop = messages[i];
      if (!isObject(stop) || !isObject(stop.stop)) continue;
      for (const key of ["accountSid", "callSid"] as const) {
        if (stop.stop[key] !== startBody[key]) v.push(`#${i} stop: stop.${key} ${JSON.stringify(stop.stop[key])} differs from start.${key} ${JSON.stringify(startBody[key])}`);
      }
    }
  }
  return v;
}

/** Every way messages a pipeline sends depart from what Twilio accepts (media, mark, clear) on the stream streamSid. */
export function checkToTwilio(messages: readonly unknown[], streamSid: string): string[] {
  const v: string[] = [];
  messages.forEach((msg, i) => {
    const label = `sent #${i} ${eventOf(msg)}`;
    if (!isObject(msg)) return void v.push(`sent #${i}: not a JSON object`);
    const ev = msg.event;
    if (typeof ev !== "string" || !(ev in TO_TWILIO)) return void v.push(`${label}: Twilio accepts media, mark and clear only`);
    const event = ev as keyof typeof TO_TWILIO;
    v.push(...schemaViolations(TO_TWILIO[event], msg, label, []));
    v.push(...keyOrderViolations(msg, TO_TWILIO_KEY_ORDER[event], label));
    if (msg.streamSid !== streamSid) v.push(`${label}: streamSid ${JSON.stringify(msg.streamSid)}, not the stream's ${streamSid}`);
  });
  return v;
}

const markNames = (messages: readonly unknown[]) =>
  messages.flatMap((m) => (isObject(m) && m.event === "mark" && isObject(m.mark) && typeof m.mark.name === "string" ? [m.mark.name] : []));

/**
 * Marks as Twilio returns them. A mark is sent "after sending a media event message to be notified
 * when the audio that you have sent has been completed"; Twilio "sends back the mark.name you
 * specify"; a clear "empties all buffered audio and causes any mark messages to be sent back".
 * So every mark sent comes back once, by name, and (playback being in order) in the order sent;
 * nothing comes back that was not sent. Timing (after the audio before it) is the caller's to check.
 */
export function checkMarkReplies(sentToTwilio: readonly unknown[], fromTwilio: readonly unknown[]): string[] {
  const sent = markNames(sentToTwilio);
  const back = markNames(fromTwilio);
  const v: string[] = [];
  const pending = [...sent];
  for (const name of back) {
    const at = pending.indexOf(name);
    if (at < 0) v.push(sent.includes(name) ? `mark ${JSON.stringify(name)} came back more often than it was sent` : `mark ${JSON.stringify(name)} came back but was never sent`);
    else {
      if (at > 0) v.push(`mark ${JSON.stringify(name)} came back before ${pending.slice(0, at).map((n) => JSON.stringify(n)).join(", ")} sent ahead of it`);
      pending.splice(at, 1);
    }
  }
  for (const name of pending) v.push(`mark ${JSON.stringify(name)} never came back`);
  return v;
}

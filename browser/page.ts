/**
 * The page's entry: opens the control link to the host (its URL and token come in the page's
 * query string), builds the audio graph on `configure`, and runs commands through the Phone
 * (those that need the graph wait for it).
 */
import { type Command, type GraphSettings, type PageEvent, type PreferredCodec } from "../bridge/page-protocol.ts";
import { AudioGraph } from "./audio-graph.ts";
import { GraphSlot } from "./graph-slot.ts";
import { Phone } from "./phone.ts";
import { UplinkTap } from "./uplink-tap.ts";

const params = new URLSearchParams(location.search);
const token = params.get("token") ?? "";
const wsBase = `ws://${location.host}/page`;

let codec: PreferredCodec = "opus";
let uplink: UplinkTap | undefined;
const control = new WebSocket(`${wsBase}/control?token=${encodeURIComponent(token)}`);
const emit = (event: PageEvent): void => {
  if (control.readyState === WebSocket.OPEN) control.send(JSON.stringify(event));
};

let graphTimes: { buildMs: number; startedAtMs: number } | undefined;

async function createGraph(g: GraphSettings): Promise<AudioGraph> {
  const startedAtMs = performance.now();
  const graph = await AudioGraph.create({
    sampleRate: g.sampleRate,
    slots: g.slots,
    workletUrl: "/media-hub.worklet.js",
    workerUrl: "/media-worker.js",
    mediaUrl: `${wsBase}/media?token=${encodeURIComponent(token)}`,
  });
  uplink = undefined;
  if (g.uplink === "fast") {
    if (UplinkTap.supported) uplink = new UplinkTap("/uplink.worker.js", (port) => graph.connectUplink(port), graph.ctx.sampleRate, (why) => emit({ type: "log", level: "warn", msg: `fast uplink worker: ${why}` }));
    else emit({ type: "log", level: "warn", msg: "UPLINK=fast: this Chrome has no RTCRtpScriptTransform, the caller's audio takes the buffered path" });
  }
  graphTimes = { buildMs: Math.round(performance.now() - startedAtMs), startedAtMs: Math.round(startedAtMs) };
  return graph;
}

const graphs = new GraphSlot(createGraph);

const phone = new Phone(
  emit,
  () => graphs.current,
  () => codec,
  () => uplink,
);

// For diagnostics from DevTools or Puppeteer (HEADLESS=false): window.phone.stats().
(window as unknown as { phone: Phone }).phone = phone;

// Errors the page cannot attribute to a command still reach the host's log.
addEventListener("error", (e) => emit({ type: "log", level: "error", msg: `page error: ${e.message}` }));
addEventListener("unhandledrejection", (e) => emit({ type: "log", level: "error", msg: `page rejection: ${String(e.reason?.message ?? e.reason)}` }));

async function handle(cmd: Command): Promise<void> {
  if (cmd.type === "configure") {
    codec = cmd.preferCodec;
    const graph = await graphs.build(cmd);
    emit({ type: "ready", sampleRate: graph.ctx.sampleRate, userAgent: navigator.userAgent, ...graphTimes });
    return;
  }
  if (cmd.type === "register") {
    await phone.register(cmd);
    return;
  }
  try {
    // A call answered while the graph is still building waits for it (its error is the command's).
    if (GraphSlot.needsGraph(cmd)) await graphs.ready();
    await phone.run(cmd);
    emit({ type: "result", requestId: cmd.requestId, ok: true });
  } catch (err) {
    emit({ type: "result", requestId: cmd.requestId, ok: false, error: err instanceof Error ? err.message : String(err) });
  }
}

control.onmessage = (e: MessageEvent<string>) => {
  let cmd: Command;
  try {
    cmd = JSON.parse(e.data) as Command;
  } catch {
    emit({ type: "log", level: "warn", msg: "unparsable command" });
    return;
  }
  void handle(cmd).catch((err) => emit({ type: "log", level: "error", msg: `${cmd.type} failed: ${String(err?.message ?? err)}` }));
};

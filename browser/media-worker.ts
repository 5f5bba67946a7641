/**
 * Carries media between the audio worklet and the host so the page's main thread (busy with
 * SIP and WebRTC signalling) never touches a frame. Capture buffers go back to the worklet's
 * pool in batches after sending, so the real-time thread does not allocate.
 */
// The DOM lib has no worker-scope types: the two members used here are declared by hand.
declare const self: { postMessage(msg: unknown): void; onmessage: ((e: MessageEvent) => void) | null };

let ws: WebSocket | undefined;
let hub: MessagePort | undefined;
const spent: ArrayBuffer[] = [];
let sentFrames = 0;
let droppedFrames = 0;

function connect(url: string): void {
  ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onmessage = (e: MessageEvent<ArrayBuffer>) => {
    if (e.data instanceof ArrayBuffer) hub?.postMessage(e.data, [e.data]);
  };
  ws.onopen = () => self.postMessage({ type: "open" });
  ws.onclose = (e) => self.postMessage({ type: "closed", code: e.code, reason: e.reason });
}

self.onmessage = (e: MessageEvent<{ type: "init"; url: string; port: MessagePort } | { type: "uplink"; port: MessagePort } | { type: "stats" }>) => {
  const msg = e.data;
  if (msg.type === "uplink") {
    // The fast uplink's frames: sent as they come, and given back in batches like the worklet's.
    const uplink = msg.port;
    const spentUp: ArrayBuffer[] = [];
    uplink.onmessage = (m: MessageEvent<ArrayBuffer>) => {
      if (ws?.readyState === WebSocket.OPEN) {
        ws.send(m.data);
        sentFrames++;
      } else droppedFrames++;
      spentUp.push(m.data);
      if (spentUp.length >= 8) {
        const batch = spentUp.splice(0);
        uplink.postMessage(batch, batch);
      }
    };
  } else if (msg.type === "init") {
    hub = msg.port;
    hub.onmessage = (m: MessageEvent<ArrayBuffer>) => {
      const frame = m.data;
      if (ws?.readyState === WebSocket.OPEN) {
        ws.send(frame);
        sentFrames++;
      } else droppedFrames++;
      spent.push(frame);
      if (spent.length >= 8) {
        const batch = spent.splice(0);
        hub!.postMessage(batch, batch);
      }
    };
    connect(msg.url);
  } else if (msg.type === "stats") {
    self.postMessage({ type: "stats", sentFrames, droppedFrames, buffered: ws?.bufferedAmount ?? 0 });
  }
};

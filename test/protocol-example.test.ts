import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { PROTOCOLS, createPipelineSession, type PipelineProtocol } from "../bridge/pipeline/index.ts";
import { loadConfig } from "../host/config.ts";

// docs/ARCHITECTURE.md promises "a new protocol is one file plus one line" and shows that file:
// the example is loaded as written, registered with one line, configured and spoken to.
const ROOT = resolve(import.meta.dirname, "..");
const doc = readFileSync(join(ROOT, "docs/ARCHITECTURE.md"), "utf8");
const code = /```ts\n\/\/ bridge\/pipeline\/mulaw-raw\.ts \(new\)\n([\s\S]*?)```/.exec(doc)?.[1];

const base = { RINGCENTRAL_CLIENT_ID: "abc", RINGCENTRAL_CLIENT_SECRET: "secret", RINGCENTRAL_JWT_TOKEN: "a.b.c", PIPELINE_URL: "ws://127.0.0.1:9/x" };

describe("the documented example protocol", () => {
  const registry = PROTOCOLS as PipelineProtocol[];
  afterAll(() => void registry.splice(registry.findIndex((p) => p.name === "mulaw-raw"), 1));

  it("is one file plus one registry line: configured, and carries audio both ways", async () => {
    expect(code).toBeDefined();
    // Its relative imports resolve against bridge/pipeline/, as in the real file.
    const dir = join(ROOT, ".cache", "protocol-example");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "mulaw-raw.ts");
    writeFileSync(file, code!.replace(/from "\.\/([\w-]+\.ts)"/g, (_m, f: string) => `from ${JSON.stringify(pathToFileURL(join(ROOT, "bridge/pipeline", f)).href)}`));
    const { mulawRawProtocol } = (await import(pathToFileURL(file).href)) as { mulawRawProtocol: PipelineProtocol };
    registry.push(mulawRawProtocol); // the one line

    const profile = loadConfig({ ...base, PIPELINE_PROTOCOL: "mulaw-raw" }).pipeline.profile;
    expect(profile).toEqual({ protocol: "mulaw-raw", encoding: "mulaw", sampleRate: 8000 });

    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise((r) => wss.once("listening", r));
    const port = (wss.address() as { port: number }).port;
    const got: Array<string | number> = [];
    wss.on("connection", (ws) => {
      ws.on("message", (data: Buffer, isBinary) => {
        got.push(isBinary ? data.length : data.toString());
        if (isBinary) ws.send(Buffer.alloc(160, 0xff)); // μ-law silence back
      });
    });
    const audio: number[] = [];
    const session = createPipelineSession(profile, { url: `ws://127.0.0.1:${port}/`, connectTimeoutMs: 2000 }, {
      onAudio: (pcm) => audio.push(pcm.length),
      onMark() {},
      onClear() {},
      onSendDtmf() {},
      onHangup() {},
      onDropped() {},
      onBadMessage() {},
      playout: { pushedSamples: 0, playedSamples: 0, playingSamples: () => 0 },
      onCallAction: async () => {},
      onTranscript() {},
      onNote() {},
    });
    await session.open({ callSid: "s-1", accountId: "a", from: "+1", to: "+2", direction: "inbound", customParameters: {} });
    session.sendCallerAudio(new Int16Array(160));
    for (let i = 0; i < 200 && audio.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    session.close("done");
    wss.close();
    expect(JSON.parse(String(got[0]))).toMatchObject({ event: "start", callSid: "s-1" });
    expect(got[1]).toBe(160);
    expect(audio).toEqual([160]);
  });
});

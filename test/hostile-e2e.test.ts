/**
 * The whole host (`npm start`, real Chrome, the twin) under the inputs that killed it, on every
 * port it listens on, then a real call; and the crash policy: a bug (an uncaught exception or
 * unhandled rejection) is logged and the host shuts down cleanly, calls hung up and SIP
 * unregistered, exiting 70.
 */
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CRASH_EXIT_CODE } from "../host/shutdown.ts";
import { startTwin, type Twin } from "../twin/server.ts";
import { spawnHostCli } from "./support/host-cli.ts";
import { rawRequest } from "./support/raw-http.ts";
import { twinEnv, type TwinCallView } from "./support/stack.ts";
import { speakTone, startTestPipeline } from "./support/twilio-pipeline.ts";
import { until } from "./support/until.ts";

let twin: Twin;
let pipeline: Awaited<ReturnType<typeof startTestPipeline>>;
beforeAll(async () => {
  twin = await startTwin({ log: pino({ level: "silent" }) });
  pipeline = await startTestPipeline(() => speakTone(880));
});
afterAll(async () => {
  await pipeline?.close();
  await twin?.stop();
});

/** TCP ports a process listens on, from /proc (the page link's port is random and never logged). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set(
    readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
      try {
        return [/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1]].filter(Boolean);
      } catch {
        return [];
      }
    }),
  );
  return ["/proc/net/tcp", "/proc/net/tcp6"].flatMap((f) =>
    readFileSync(f, "utf8")
      .split("\n")
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((c) => c[3] === "0A" && inodes.has(c[9]))
      .map((c) => parseInt(c[1].split(":")[1], 16)),
  );
}

const registrations = async () => ((await (await fetch(`${twin.controlUrl}/registrations`)).json()) as { records: unknown[] }).records.length;
const twinCall = async (id: string) => (await (await fetch(`${twin.controlUrl}/calls/${id}`)).json()) as TwinCallView;

async function startHost(fault: "exception" | "rejection") {
  const child = spawnHostCli({ ...twinEnv(twin), PIPELINE_URL: pipeline.url, HTTP_PORT: "0", INJECT_FAULT: fault }, `hostile-${fault}`, ["./test/support/inject-fault.ts"]);
  let stdout = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.resume();
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  await until(async () => (await registrations()) === 1, "the host to register", 30_000);
  const httpPort = Number(/"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(stdout)![1]);
  return { child, exited, httpPort, log: () => stdout };
}

// Each of these killed the whole host on the page link's port, or would be one way to.
const UPGRADE = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13";
const HOSTILE = [
  `GET // HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n\r\n`,
  `GET http://[ HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n\r\n`,
  `GET /page/control?token=%zz HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n\r\n`,
  "CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: x\r\n\r\n",
  "FOO / HTTP/1.1\r\nHost: x\r\n\r\n",
  "GET /calls/%zz HTTP/1.1\r\nHost: x\r\n\r\n",
  "POST /calls HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"to\":\"+1\",\"__proto__\":{\"x\":1}}",
  "\u0000\u0001\u0002 garbage\r\n\r\n",
];

describe("the whole host under hostile input, then a bug", () => {
  it("survives the killing inputs on every port and still takes a call; an uncaught exception then shuts it down cleanly", async () => {
    const host = await startHost("exception");
    try {
      const ports = listeningPorts(host.child.pid!);
      expect(ports).toContain(host.httpPort);
      expect(ports.length).toBeGreaterThanOrEqual(2); // HTTP and the page link
      for (const port of ports) {
        for (const bytes of HOSTILE) {
          await rawRequest(port, bytes, "end", 3000);
          await rawRequest(port, bytes, "reset", 1000);
        }
        // A wrong-token upgrade reset while its 403 is written, many times over.
        await Promise.all(Array.from({ length: 50 }, () => rawRequest(port, `GET /page/control?token=bad HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n\r\n`, "reset", 1000)));
      }
      // Not dead, and not shutting down either (which the crash policy would do after a throw).
      expect(host.log()).not.toMatch(/"level":"fatal"/);
      expect(host.child.exitCode).toBeNull();
      expect((await fetch(`http://127.0.0.1:${host.httpPort}/health`)).status).toBe(200);

      // A real call, answered, with the pipeline's audio heard by the caller.
      const placed = (await (await fetch(`${twin.controlUrl}/calls`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ from: "+15550008000", play: "tone:440" }) })).json()) as { callId: string };
      await until(async () => (await twinCall(placed.callId)).state === "answered", "the call to be answered", 20_000);
      await until(async () => ((await twinCall(placed.callId)).heard?.frames ?? 0) > 100, "two seconds of the agent's audio", 20_000);
      expect(Math.abs((await twinCall(placed.callId)).heard!.dominantHz! - 880)).toBeLessThan(17.6);

      host.child.kill("SIGUSR2");
      expect(await host.exited).toBe(CRASH_EXIT_CODE);
      const fatal = host.log().split("\n").find((l) => l.includes('"level":"fatal"'));
      expect(fatal).toMatch(/"origin":"uncaughtException"/);
      expect(fatal).toMatch(/injected fault: an exception nobody catches/);
      expect(host.log()).toMatch(/"msg":"host: stopped"/);
      // Clean: the call hung up by the host, the registration removed.
      expect(await twinCall(placed.callId)).toMatchObject({ state: "ended", endReason: "agent-hangup" });
      expect(await registrations()).toBe(0);
    } finally {
      host.child.kill("SIGKILL");
    }
  });

  it("an unhandled rejection shuts it down cleanly too", async () => {
    const host = await startHost("rejection");
    try {
      host.child.kill("SIGUSR2");
      expect(await host.exited).toBe(CRASH_EXIT_CODE);
      const fatal = host.log().split("\n").find((l) => l.includes('"level":"fatal"'));
      expect(fatal).toMatch(/"origin":"unhandledRejection"/);
      expect(fatal).toMatch(/injected fault: a rejection nobody handles/);
      expect(host.log()).toMatch(/"msg":"host: stopped"/);
      expect(await registrations()).toBe(0);
    } finally {
      host.child.kill("SIGKILL");
    }
  });
});

import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:net";
import { fileURLToPath } from "node:url";
import { SDK } from "@ringcentral/sdk";
import { describe, expect, it } from "vitest";
import { parseCliOptions, UsageError } from "../twin/cli.ts";
import { DEFAULT_HTTP_PORT, DEFAULT_SIP_PORT } from "../twin/server.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `npm run twin` without npm's banner: node + tsx on twin/cli.ts, so signals reach the twin itself. */
function runCli(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, ["--import", "tsx", "twin/cli.ts", ...args], {
    cwd: ROOT,
    env: { ...process.env, TWIN_HTTP_PORT: "", TWIN_SIP_PORT: "", TWIN_LOG_LEVEL: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function firstLine(run: Run, timeoutMs = 20_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  while (!run.stdout().includes("\n")) {
    if (Date.now() > until) throw new Error(`no stdout line within ${timeoutMs} ms; stderr: ${run.stderr()}`);
    if (run.child.exitCode !== null) throw new Error(`twin exited ${run.child.exitCode}; stderr: ${run.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return run.stdout().split("\n")[0];
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}
const close = (s: Server) => new Promise<void>((r) => s.close(() => r()));

async function freePort(): Promise<number> {
  const s = await listen(0);
  const { port } = s.address() as { port: number };
  await close(s);
  return port;
}

/** A free SIP port whose next port (the backup proxy's) is free too. */
async function freeSipPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port >= 65535) continue;
    const next = await listen(port + 1).catch(() => undefined);
    if (!next) continue;
    await close(next);
    return port;
  }
}

/** Logs in with the real SDK against what the twin printed, and sip-provisions. */
async function useTwin(info: { restUrl: string; sipWssUrl: string; clientId: string; clientSecret: string; jwt: string; controlUrl: string }) {
  const sdk = new SDK({ server: info.restUrl, clientId: info.clientId, clientSecret: info.clientSecret, cachePrefix: `twin-cli-${Math.random()}-` });
  await sdk.platform().login({ jwt: info.jwt });
  expect(await sdk.platform().loggedIn()).toBe(true);
  const provision = await (await sdk.platform().post("/restapi/v1.0/client-info/sip-provision", { sipInfo: [{ transport: "WSS" }] })).json();
  expect(`wss://${provision.sipInfo[0].outboundProxy}`).toBe(info.sipWssUrl);
  const regs = await fetch(`${info.controlUrl}/registrations`);
  expect(regs.status).toBe(200);
  expect(await regs.json()).toEqual({ records: [] });
}

describe("twin CLI (npm run twin)", () => {
  it("serves on ports from the flags (0 = any), prints one JSON line, stops on SIGTERM with exit 0 and frees its ports", async () => {
    const run = runCli(["--http-port", "0", "--sip-port", "0", "--log-level", "info"]);
    try {
      const info = JSON.parse(await firstLine(run));
      expect(Object.keys(info).sort()).toEqual(["clientId", "clientSecret", "controlUrl", "jwt", "restUrl", "sipWssUrl"]);
      expect(info.restUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(info.sipWssUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
      expect(info.controlUrl).toBe(`${info.restUrl}/twin`);
      await useTwin(info);

      run.child.kill("SIGTERM");
      expect(await run.exited).toEqual({ code: 0, signal: null });
      expect(run.stdout().split("\n").filter(Boolean)).toHaveLength(1); // exactly one line on stdout
      // Logs went to stderr, as pino JSON.
      const logs = run.stderr().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { msg: string });
      expect(logs.map((l) => l.msg)).toEqual(expect.arrayContaining(["twin: serving", "twin: stopping", "twin: stopped"]));
      // Both ports are free again.
      for (const url of [info.restUrl, info.sipWssUrl]) await close(await listen(Number(new URL(url).port)));
    } finally {
      run.child.kill("SIGKILL");
    }
  });

  it("takes its ports from TWIN_HTTP_PORT / TWIN_SIP_PORT and stops on SIGINT", async () => {
    const sipPort = await freeSipPort();
    let httpPort = await freePort();
    while (httpPort === sipPort || httpPort === sipPort + 1) httpPort = await freePort();
    const run = runCli([], { TWIN_HTTP_PORT: String(httpPort), TWIN_SIP_PORT: String(sipPort), TWIN_LOG_LEVEL: "warn" });
    try {
      const info = JSON.parse(await firstLine(run));
      expect(info.restUrl).toBe(`http://127.0.0.1:${httpPort}`);
      expect(info.sipWssUrl).toBe(`wss://127.0.0.1:${sipPort}`);
      await useTwin(info);
      run.child.kill("SIGINT");
      expect(await run.exited).toEqual({ code: 0, signal: null });
      expect(run.stderr()).toBe(""); // nothing at warn level
      await close(await listen(httpPort));
      await close(await listen(sipPort));
    } finally {
      run.child.kill("SIGKILL");
    }
  });

  it("a port in use is one clear line on stderr and exit 1 (HTTP and SIP)", async () => {
    const busy = await listen(0);
    const port = (busy.address() as { port: number }).port;
    try {
      for (const [args, which] of [
        [["--http-port", String(port), "--sip-port", "0"], "HTTP"],
        [["--http-port", "0", "--sip-port", String(port)], "SIP"],
      ] as const) {
        const run = runCli([...args]);
        expect(await run.exited).toEqual({ code: 1, signal: null });
        expect(run.stdout()).toBe("");
        const lines = run.stderr().split("\n").filter(Boolean);
        expect(lines, run.stderr()).toHaveLength(1);
        expect(lines[0]).toContain(`port ${port}`);
        expect(lines[0]).toContain(which);
        expect(lines[0]).toContain("already in use");
      }
    } finally {
      await close(busy);
    }
  });

  it("resolves options: flags over environment over defaults", () => {
    expect(parseCliOptions([], {})).toEqual({ httpPort: DEFAULT_HTTP_PORT, sipPort: DEFAULT_SIP_PORT, logLevel: "info", help: false });
    expect(DEFAULT_HTTP_PORT).toBe(18080);
    expect(DEFAULT_SIP_PORT).toBe(18443);
    expect(parseCliOptions([], { TWIN_HTTP_PORT: "9000", TWIN_SIP_PORT: "9001", TWIN_LOG_LEVEL: "debug" })).toMatchObject({ httpPort: 9000, sipPort: 9001, logLevel: "debug" });
    expect(parseCliOptions(["--http-port", "7000", "--log-level", "warn"], { TWIN_HTTP_PORT: "9000", TWIN_SIP_PORT: "9001" })).toMatchObject({ httpPort: 7000, sipPort: 9001, logLevel: "warn" });
    expect(() => parseCliOptions(["--http-port", "70000"], {})).toThrow(UsageError);
    expect(() => parseCliOptions(["--sip-port", "abc"], {})).toThrow(/--sip-port must be a port number/);
    expect(() => parseCliOptions(["--http-port", "9000", "--sip-port", "9000"], {})).toThrow(/must differ/);
    expect(() => parseCliOptions(["--log-level", "loud"], {})).toThrow(/--log-level/);
    expect(() => parseCliOptions(["--nope"], {})).toThrow(UsageError);
  });

  it("bad arguments exit 2 with one line", async () => {
    const run = runCli(["--http-port", "nope"]);
    expect(await run.exited).toEqual({ code: 2, signal: null });
    expect(run.stderr().trim().split("\n")).toHaveLength(1);
    expect(run.stderr()).toMatch(/^twin: --http-port must be a port number/);
  });
});

import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTwin, type Twin } from "../twin/server.ts";
import { spawnHostCli } from "./support/host-cli.ts";
import { twinEnv } from "./support/stack.ts";
import { until } from "./support/until.ts";

/** Runs `npm start`'s entry with exactly the given environment. */
function runHost(env: Record<string, string>, timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawnHostCli(env, "cli-test");
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const SECRET = "s3cr3t-client-secret-value";
const JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ3cm9uZyJ9.d3JvbmctanctdG9rZW4tc2lnbmF0dXJl";

function expectNoStackNoSecret(out: { stdout: string; stderr: string }) {
  const all = out.stdout + out.stderr;
  expect(all).not.toMatch(/^\s+at /m);
  expect(all).not.toContain(SECRET);
  expect(all).not.toContain(JWT);
}

describe("bad configuration: one clear line each, non-zero exit, no stack, no secret", () => {
  let twin: Twin;
  beforeAll(async () => {
    twin = await startTwin({ log: pino({ level: "silent" }) });
  });
  afterAll(async () => {
    await twin?.stop();
  });

  it("nothing set: names every missing variable and points to the demo", async () => {
    const out = await runHost({});
    expect(out.code).toBe(2);
    const lines = out.stderr.trim().split("\n").filter((l) => l.startsWith("config: "));
    for (const name of ["RINGCENTRAL_CLIENT_ID", "RINGCENTRAL_CLIENT_SECRET", "RINGCENTRAL_JWT_TOKEN", "PIPELINE_URL"]) {
      expect(lines.filter((l) => l.includes(name))).toHaveLength(1);
    }
    expect(out.stderr).toContain("npm run demo");
    expectNoStackNoSecret(out);
  });

  it("malformed values: each variable named with what is wrong", async () => {
    const out = await runHost({
      RINGCENTRAL_SERVER_URL: "not a url",
      RINGCENTRAL_CLIENT_ID: "id",
      RINGCENTRAL_CLIENT_SECRET: SECRET,
      RINGCENTRAL_JWT_TOKEN: "not-a-jwt",
      PIPELINE_URL: "http://127.0.0.1:1/",
      HTTP_PORT: "99999",
      HEADLESS: "maybe",
    });
    expect(out.code).toBe(2);
    for (const name of ["RINGCENTRAL_SERVER_URL", "RINGCENTRAL_JWT_TOKEN", "PIPELINE_URL", "HTTP_PORT", "HEADLESS"]) expect(out.stderr).toContain(name);
    expectNoStackNoSecret(out);
  });

  const valid = () => ({
    RINGCENTRAL_CLIENT_ID: twin.clientId,
    RINGCENTRAL_CLIENT_SECRET: SECRET,
    RINGCENTRAL_JWT_TOKEN: JWT,
    PIPELINE_URL: "ws://127.0.0.1:9",
    HTTP_PORT: "0",
  });

  it("unreachable server: an outage, not a mistake: it keeps trying, logging each wait, until stopped", async () => {
    const child = spawnHostCli({ ...valid(), RINGCENTRAL_SERVER_URL: "http://127.0.0.1:9" }, "cli-test-unreachable");
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    const retries = () => stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l.operation === "login");
    await until(() => retries().length >= 3, "three login retries", 20_000);
    for (const l of retries()) {
      expect(l).toMatchObject({ level: "warn", reason: "network", waitMs: expect.any(Number) });
      expect(l.msg).toMatch(/^ringcentral: login failed \(ECONNREFUSED: .*\), retrying in \d+ ms$/);
    }
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(stderr).toBe("");
    expectNoStackNoSecret({ stdout, stderr });
  });

  it("wrong client secret and JWT, against the twin", async () => {
    const out = await runHost({ ...valid(), RINGCENTRAL_SERVER_URL: twin.restUrl });
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^error: RingCentral refused the login/m);
    expectNoStackNoSecret(out);
  });

  it("right secret, wrong JWT", async () => {
    const out = await runHost({ ...valid(), RINGCENTRAL_SERVER_URL: twin.restUrl, RINGCENTRAL_CLIENT_SECRET: twin.clientSecret });
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^error: RingCentral refused the login \(400/m);
    expect(out.stdout + out.stderr).not.toContain(twin.clientSecret);
    expectNoStackNoSecret(out);
  });
});

describe("npm start shuts down cleanly on SIGTERM", () => {
  // The drain's waiting is test/drain-e2e.test.ts; DRAIN_TIMEOUT_S=0 hangs up at once.
  it("DRAIN_TIMEOUT_S=0: hangs up the call in progress, unregisters, closes Chrome, exits 0", async () => {
    const twin = await startTwin({ log: pino({ level: "silent" }) });
    const { startEchoPipeline } = await import("../examples/echo-pipeline.ts");
    const echo = await startEchoPipeline();
    try {
      const child = spawnHostCli({ ...twinEnv(twin), PIPELINE_URL: echo.url, HTTP_PORT: "0", DRAIN_TIMEOUT_S: "0" }, "cli-sigterm");
      let stdout = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.resume();
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      const registrations = async () => (await (await fetch(`${twin.controlUrl}/registrations`)).json()).records.length as number;
      for (let i = 0; i < 200 && (await registrations()) === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await registrations()).toBe(1);
      const placed = await (await fetch(`${twin.controlUrl}/calls`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ from: "+15550008000", play: "tone:440" }) })).json();
      const state = async () => (await (await fetch(`${twin.controlUrl}/calls/${placed.callId}`)).json()).state as string;
      for (let i = 0; i < 100 && (await state()) !== "answered"; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await state()).toBe("answered");
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      const call = await (await fetch(`${twin.controlUrl}/calls/${placed.callId}`)).json();
      expect(call.state).toBe("ended");
      expect(call.endReason).toBe("agent-hangup");
      expect(await registrations()).toBe(0);
      expect(stdout).toMatch(/"msg":"host: stopped"/);
      expect(echo.streams[0].stopped).toBe(true);
    } finally {
      await echo.close();
      await twin.stop();
    }
  });
});

import { describe, expect, it } from "vitest";
import { loadConfig } from "../host/config.ts";
import { problemsOf } from "./support/config-problems.ts";

const valid: NodeJS.ProcessEnv = {
  RINGCENTRAL_CLIENT_ID: "client_1",
  RINGCENTRAL_CLIENT_SECRET: "zz-secret-4f1b",
  RINGCENTRAL_JWT_TOKEN: "eyJh.eyJz.c2ln",
  PIPELINE_URL: "wss://agent.example.com/media",
};

describe("DRAIN_TIMEOUT_S", () => {
  it("defaults to 300 s, and takes 0 (hang up at once) to 3600", () => {
    expect(loadConfig(valid).drainTimeoutS).toBe(300);
    expect(loadConfig({ ...valid, DRAIN_TIMEOUT_S: "0" }).drainTimeoutS).toBe(0);
    expect(loadConfig({ ...valid, DRAIN_TIMEOUT_S: "3600" }).drainTimeoutS).toBe(3600);
    expect(loadConfig({ ...valid, DRAIN_TIMEOUT_S: " " }).drainTimeoutS).toBe(300);
  });

  it.each(["3601", "-1", "1.5", "5m", "ten"])("refuses %s with one sentence saying what to set", (value) => {
    expect(problemsOf({ ...valid, DRAIN_TIMEOUT_S: value })).toEqual([
      `DRAIN_TIMEOUT_S must be a whole number of seconds from 0 to 3600, got "${value}": how long a drain (SIGTERM, POST /admin/drain) lets calls in progress go on before hanging them up, e.g. 300`,
    ]);
  });
});

import { describe, expect, it } from "vitest";
import { problemsOf } from "./support/config-problems.ts";
import { ConfigError, describeConfig, loadConfig } from "../host/config.ts";

const valid: NodeJS.ProcessEnv = {
  RINGCENTRAL_CLIENT_ID: "client_1",
  RINGCENTRAL_CLIENT_SECRET: "zz-secret-4f1b",
  RINGCENTRAL_JWT_TOKEN: "eyJh.eyJz.c2ln",
  PIPELINE_URL: "wss://agent.example.com/media",
};
const PASSWORD = "redis-pass-9d2c71";


describe("cluster settings", () => {
  it("REDIS_URL unset: no cluster at all (the host is on its own)", () => {
    expect(loadConfig(valid).cluster).toBeUndefined();
  });

  it("REDIS_URL set: a cluster, with HOST_ID or a hostname and 6 random hex digits, and the cluster-wide cap", () => {
    const a = loadConfig({ ...valid, REDIS_URL: "redis://redis:6379/0" }).cluster!;
    const b = loadConfig({ ...valid, REDIS_URL: "redis://redis:6379/0" }).cluster!;
    expect(a).toEqual({ redisUrl: "redis://redis:6379/0", hostId: expect.stringMatching(/^[A-Za-z0-9._-]+-[0-9a-f]{6}$/) });
    expect(a.hostId).not.toBe(b.hostId); // a restarted host is a new host
    expect(loadConfig({ ...valid, REDIS_URL: "rediss://r.example.com", HOST_ID: "pod-7", CLUSTER_MAX_CONCURRENT_CALLS: "40" }).cluster).toEqual({
      redisUrl: "rediss://r.example.com",
      hostId: "pod-7",
      maxConcurrentCalls: 40,
    });
  });

  it("bad values: one line each, naming what to set, never echoing the URL's password", () => {
    const problems = problemsOf({ ...valid, REDIS_URL: `http://:${PASSWORD}@redis:6379`, HOST_ID: "has space", CLUSTER_MAX_CONCURRENT_CALLS: "0" });
    expect(problems).toEqual([
      expect.stringMatching(/^REDIS_URL is set but uses http:\/\/, not redis:\/\/ or rediss:\/\/: set it to the Redis the hosts share/),
      expect.stringMatching(/^HOST_ID must be 1-64 letters, digits, \. _ or -, got "has space": /),
      expect.stringMatching(/^CLUSTER_MAX_CONCURRENT_CALLS must be a positive whole number, got "0": /),
    ]);
    expect(problems.join("\n")).not.toContain(PASSWORD);
  });

  it("HOST_ID or CLUSTER_MAX_CONCURRENT_CALLS without REDIS_URL: a mistake, said so", () => {
    expect(problemsOf({ ...valid, HOST_ID: "pod-1", CLUSTER_MAX_CONCURRENT_CALLS: "4" })).toEqual([
      "HOST_ID is set but REDIS_URL is not: HOST_ID only means something in a cluster; set REDIS_URL, or unset HOST_ID",
      "CLUSTER_MAX_CONCURRENT_CALLS is set but REDIS_URL is not: CLUSTER_MAX_CONCURRENT_CALLS only means something in a cluster; set REDIS_URL, or unset CLUSTER_MAX_CONCURRENT_CALLS",
    ]);
  });

  it("webhooks in a cluster need one WEBHOOK_VERIFICATION_TOKEN on every host (a delivery may reach any of them)", () => {
    const env = { ...valid, REDIS_URL: "redis://redis:6379", WEBHOOK_PUBLIC_URL: "https://bot.example.com" };
    expect(problemsOf(env)).toEqual([expect.stringMatching(/^WEBHOOK_VERIFICATION_TOKEN is not set but REDIS_URL and WEBHOOK_PUBLIC_URL are: /)]);
    expect(loadConfig({ ...env, WEBHOOK_VERIFICATION_TOKEN: "tok-0123456789abcdef" }).webhook.publicUrl).toBe("https://bot.example.com");
  });

  it("describeConfig hides the Redis password", () => {
    const described = JSON.stringify(describeConfig(loadConfig({ ...valid, REDIS_URL: `redis://user:${PASSWORD}@redis:6379/0` })));
    expect(described).not.toContain(PASSWORD);
    expect(described).toContain("redis://***:***@redis:6379/0");
  });
});

import { describe, expect, it } from "vitest";
import { AnswerRules } from "../host/answer-rules.ts";
import { loadConfig } from "../host/config.ts";

const base = { PIPELINE_URL: "ws://127.0.0.1:1", RINGCENTRAL_CLIENT_ID: "id", RINGCENTRAL_CLIENT_SECRET: "secret", RINGCENTRAL_JWT_TOKEN: "a.b.c" };
const rules = (env: Record<string, string>) => new AnswerRules(loadConfig({ ...base, ...env }).answer);

describe("answering rules", () => {
  it("deny beats allow; allow limits who is answered", () => {
    const r = rules({ ANSWER_ALLOW: "+1650*", ANSWER_DENY: "+1650555*" });
    expect(r.check("+16501112222", 0)).toEqual({ answer: true });
    expect(r.check("+16505550000", 0)).toMatchObject({ answer: false, reason: expect.stringMatching(/ANSWER_DENY/) });
    expect(r.check("+14150000000", 0)).toMatchObject({ answer: false, reason: expect.stringMatching(/ANSWER_ALLOW/) });
  });
  it("caps concurrent calls", () => {
    const r = rules({ MAX_CONCURRENT_CALLS: "2" });
    expect(r.check("+1", 1).answer).toBe(true);
    expect(r.check("+1", 2)).toMatchObject({ answer: false, reason: expect.stringMatching(/MAX_CONCURRENT_CALLS/) });
  });
  it("limits calls per minute over a sliding minute", () => {
    const r = rules({ ANSWER_MAX_PER_MINUTE: "2" });
    r.taken(0);
    r.taken(10_000);
    expect(r.check("+1", 0, 30_000)).toMatchObject({ answer: false, reason: expect.stringMatching(/PER_MINUTE/) });
    expect(r.check("+1", 0, 60_001).answer).toBe(true);
  });
});

import type { AnswerConfig } from "./config.ts";

export type Verdict = { answer: true } | { answer: false; reason: string };

/**
 * Which calls the bot takes: caller patterns, the concurrency cap and a per-minute rate.
 * Pure bookkeeping; the host asks it once per ringing call and tells it when one is answered.
 */
export class AnswerRules {
  private readonly answeredAtMs: number[] = [];

  constructor(private readonly config: AnswerConfig) {}

  check(from: string, activeCalls: number, nowMs = Date.now()): Verdict {
    if (this.config.deny.some((r) => r.test(from))) return { answer: false, reason: `caller ${from} matches ANSWER_DENY` };
    if (this.config.allow.length && !this.config.allow.some((r) => r.test(from))) return { answer: false, reason: `caller ${from} is not in ANSWER_ALLOW` };
    if (activeCalls >= this.config.maxConcurrentCalls) return { answer: false, reason: `at MAX_CONCURRENT_CALLS (${this.config.maxConcurrentCalls})` };
    const max = this.config.maxPerMinute;
    if (max !== undefined) {
      while (this.answeredAtMs.length && nowMs - this.answeredAtMs[0] >= 60_000) this.answeredAtMs.shift();
      if (this.answeredAtMs.length >= max) return { answer: false, reason: `at ANSWER_MAX_PER_MINUTE (${max})` };
    }
    return { answer: true };
  }

  /** Counts an answered call against the per-minute rate. */
  taken(nowMs = Date.now()): void {
    this.answeredAtMs.push(nowMs);
  }
}

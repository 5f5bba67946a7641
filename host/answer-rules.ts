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
    const byCaller = this.refusesCaller(from);
    if (byCaller) return { answer: false, reason: byCaller };
    if (activeCalls >= this.config.maxConcurrentCalls) return { answer: false, reason: `at MAX_CONCURRENT_CALLS (${this.config.maxConcurrentCalls})` };
    const max = this.config.maxPerMinute;
    if (max !== undefined) {
      while (this.answeredAtMs.length && nowMs - this.answeredAtMs[0] >= 60_000) this.answeredAtMs.shift();
      if (this.answeredAtMs.length >= max) return { answer: false, reason: `at ANSWER_MAX_PER_MINUTE (${max})` };
    }
    return { answer: true };
  }

  /** Why ANSWER_DENY or ANSWER_ALLOW refuses this caller (the same on every host), if they do. */
  refusesCaller(from: string): string | undefined {
    if (this.config.deny.some((r) => r.test(from))) return `caller ${from} matches ANSWER_DENY`;
    if (this.config.allow.length && !this.config.allow.some((r) => r.test(from))) return `caller ${from} is not in ANSWER_ALLOW`;
    return undefined;
  }

  /** Counts an answered call against the per-minute rate. */
  taken(nowMs = Date.now()): void {
    this.answeredAtMs.push(nowMs);
  }
}

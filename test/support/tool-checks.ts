/**
 * What a connector's call-control tools must have done to a call, seen where it counts: the
 * twin's side of the call and the host's record of it. Shared by the connector e2e tests.
 */
import { expect } from "vitest";
import { until, type Stack } from "./stack.ts";

/** The host's record of a call, as far as these checks read it. */
type Record = () => Promise<{ state: string; endReason?: string | null; transferTarget?: string | null }>;

/** The keys the twin heard on the call (RFC 4733 events, in order), once `count` of them came. */
export function twinHeardDigits(stack: Stack, callId: string, count: number): Promise<string> {
  return until(async () => {
    const digits = ((await stack.twinCall(callId)) as unknown as { dtmfHeard: Array<{ digit: string }> }).dtmfHeard.map((d) => d.digit).join("");
    return digits.length >= count ? digits : undefined;
  }, "the twin to hear the keys", 15_000);
}

/** hang_up ended the call: the twin saw the agent's side hang up, the host recorded the pipeline's hang-up. */
export async function expectAgentHangup(stack: Stack, callId: string, record: Record): Promise<void> {
  await until(async () => (await stack.twinState(callId)) === "ended", "the hang-up", 15_000);
  expect((await stack.twinCall(callId)).endReason).toBe("agent-hangup");
  expect((await record()).endReason).toBe("pipeline-hangup");
}

/** transfer (blind) handed the call to `target`: the REFER reached the twin with it, and the host recorded it. */
export async function expectBlindTransfer(stack: Stack, callId: string, target: string, record: Record): Promise<void> {
  await until(async () => (await stack.twinState(callId)) === "ended", "the transfer", 20_000);
  const twinCall = (await stack.twinCall(callId)) as Awaited<ReturnType<Stack["twinCall"]>> & { transferTarget: string | null };
  expect(twinCall).toMatchObject({ endReason: "transferred", transferTarget: target });
  const v = await until(async () => ((await record()).state === "ended" ? record() : undefined), "the host's record");
  expect(v).toMatchObject({ endReason: "transferred-blind", transferTarget: target });
}

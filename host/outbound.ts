import type { Logger } from "pino";
import { detectCallee, type AmdRequest } from "../bridge/amd/index.ts";
import type { PageCommands } from "../bridge/page-link.ts";
import type { CallStream } from "../bridge/stream.ts";
import type { CallLifecycle } from "./call-lifecycle.ts";
import type { StreamFactory } from "./call-streams.ts";
import type { Call, CallRegistry } from "./calls.ts";
import { callData } from "./events.ts";

/** How long RingCentral may take to connect and the callee to answer. */
const DIAL_TIMEOUT_MS = 60_000;

export interface PlaceCallOptions {
  pipelineUrl?: string;
  customParameters?: Record<string, string>;
  amd?: AmdRequest;
  /** Checked against the protocol's per-call settings before the call is placed. */
  pipelineSettings?: Record<string, string>;
}

export interface OutboundDeps {
  calls: CallRegistry;
  page: PageCommands;
  streams: StreamFactory;
  lifecycle: CallLifecycle;
  log: Logger;
  sampleRate: number;
  /** The caller id used when the API gives none. */
  extensionNumber(): string;
}

/**
 * Calls this host places (POST /calls): dial, wait for the answer, then — with answering-machine
 * detection — let the callee's first seconds decide before the pipeline is dialled.
 */
export class Outbound {
  constructor(private readonly d: OutboundDeps) {}

  /** Places a call from this host's extension; the pipeline is dialled once the callee answers. */
  async placeCall(to: string, from?: string, opts: PlaceCallOptions = {}): Promise<Call> {
    const { calls, page } = this.d;
    const slot = calls.takeSlot();
    if (slot === undefined) throw Object.assign(new Error(`at MAX_CONCURRENT_CALLS (${calls.slots})`), { status: 409 });
    // Matched by request id: concurrent calls from the API must not take each other's Call-ID.
    const requestId = page.newRequestId();
    const outgoing = page.waitFor(["outgoing"], DIAL_TIMEOUT_MS, "the page to start the call", (e) => e.requestId === requestId);
    const result = page.request({ type: "call", to, from, slot }, DIAL_TIMEOUT_MS, requestId);
    outgoing.catch(() => {}); // raced below; a late rejection is no error
    const e = await Promise.race([outgoing, result.then(() => undefined)]).catch((err: Error) => err);
    if (!e || e instanceof Error) {
      calls.returnSlot(slot);
      throw new Error(`the page did not start the call${e instanceof Error ? `: ${e.message}` : ""}`);
    }
    const call = calls.add({ sipCallId: e.sipCallId, direction: "outbound", from: from ?? this.d.extensionNumber(), to, slot, pipelineUrl: opts.pipelineUrl, customParameters: opts.customParameters, pipelineSettings: opts.pipelineSettings });
    this.d.log.info({ call: call.id, to, amd: opts.amd?.mode }, "call: dialling");
    const stream = this.d.streams.create(call, slot);
    call.stream = stream;
    const answered = page.waitFor(["answered"], DIAL_TIMEOUT_MS + 5000, "the page to report the answer", (a) => a.sipCallId === call.sipCallId);
    answered.catch(() => {}); // awaited below only if the call itself succeeds
    try {
      await result;
      // The page reports `answered` (with codec and RingCentral ids) just after the call resolves.
      if (call.state !== "answered") await answered;
    } catch (err) {
      // Not answered in time, or refused: make sure nothing keeps ringing on RingCentral's side.
      await page.request({ type: "hangup", sipCallId: call.sipCallId }, 5000).catch(() => {});
      this.d.lifecycle.finish(call, "failed");
      throw err;
    }
    // The pipeline joins once the callee is known to be a person (or a machine's beep has sounded).
    void this.connect(call, stream, opts.amd).catch((err) => {
      // Closed meanwhile (the call ended, or a transfer took it): its dial was abandoned, nothing is down.
      if (stream.isClosed) return;
      this.d.log.error({ call: call.id, err: (err as Error).message }, "pipeline: unreachable, hanging up");
      void this.d.lifecycle.hangup(call.id, "pipeline-unreachable");
    });
    return call;
  }

  /**
   * RingCentral answers an outbound call at once, so SIP cannot tell a person from voicemail:
   * with `amd`, the callee's first seconds of audio decide (bridge/amd/) before the pipeline
   * is dialled, and the result goes to the pipeline in customParameters.amd.
   */
  private async connect(call: Call, stream: CallStream, amd: AmdRequest | undefined): Promise<void> {
    if (amd) {
      const verdict = await detectCallee(stream, this.d.sampleRate, amd, (v) => {
        call.amd = { result: v.result, reason: v.reason, atMs: v.atMs };
        this.d.log.info({ call: call.id, ...call.amd }, "amd: decided");
        this.d.lifecycle.events.emit("call.amd", { ...callData(call), result: v.result, reason: v.reason, atMs: v.atMs });
      });
      if (verdict.beepAtMs !== undefined) this.d.log.info({ call: call.id, atMs: verdict.beepAtMs }, "amd: beep heard, leaving the message");
      // Ended (or transferred) while listening: detectCallee returned as the stream closed.
      if (stream.isClosed) return;
      if (verdict.result === "machine" && amd.mode === "human-only") {
        await this.d.lifecycle.hangup(call.id, "amd-machine");
        return;
      }
      call.customParameters = { ...call.customParameters, amd: verdict.result, ...(verdict.beepAtMs !== undefined && { amdBeep: "true" }) };
    }
    if (stream.isClosed) return;
    await stream.open(this.d.streams.info(call));
    if (call.mediaConnectedAtMs) stream.mediaConnected();
  }
}

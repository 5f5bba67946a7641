import type { Logger } from "pino";
import type { PageCommands } from "../bridge/page-link.ts";
import type { CallLifecycle } from "./call-lifecycle.ts";
import type { StreamFactory } from "./call-streams.ts";
import type { Call, CallRegistry } from "./calls.ts";
import { callData } from "./events.ts";

/** A warm transfer holds, consults and joins: RingCentral may take this long. */
const TRANSFER_TIMEOUT_MS = 60_000;

export type ControlVerb = "hold" | "unhold" | "mute" | "unmute" | "recording";

export interface CallControlDeps {
  calls: CallRegistry;
  page: PageCommands;
  streams: StreamFactory;
  lifecycle: CallLifecycle;
  log: Logger;
}

/** What can be done to an answered call: hold, mute, RingCentral's recording, DTMF, transfer. */
export class CallControl {
  constructor(private readonly d: CallControlDeps) {}

  async control(callId: string, verb: ControlVerb, action?: "start" | "stop"): Promise<void> {
    const call = this.answeredCall(callId);
    if (verb === "recording") await this.d.page.request({ type: "recording", sipCallId: call.sipCallId, action: action ?? "start" });
    else await this.d.page.request({ type: verb, sipCallId: call.sipCallId });
    this.d.log.info({ call: call.id, verb, action }, "call: control");
  }

  async sendDtmf(callId: string, digits: string): Promise<void> {
    const call = this.answeredCall(callId);
    await this.d.page.request({ type: "dtmf", sipCallId: call.sipCallId, digits });
    this.d.log.info({ call: call.id, digits: digits.length }, "dtmf: sent to the caller");
  }

  /**
   * Blind (REFER) or warm (hold, consult, join) transfer. The pipeline gets its stop first, so it
   * stops talking over the handover; if RingCentral refuses the transfer, the caller is not left
   * in silence: a fresh stream to the pipeline takes the call back, and the API answers 502.
   */
  async transfer(callId: string, target: string, mode: "blind" | "warm"): Promise<void> {
    const call = this.answeredCall(callId);
    const { page, lifecycle, streams, log } = this.d;
    log.info({ call: call.id, target, mode }, "call: transferring");
    call.endReason = `transferred-${mode}`;
    lifecycle.detachStream(call, `transferred-${mode}`);
    try {
      await page.request({ type: "transfer", sipCallId: call.sipCallId, target, mode }, TRANSFER_TIMEOUT_MS);
      call.transferTarget = target;
      lifecycle.events.emit("call.transferred", { ...callData(call), target, mode });
    } catch (err) {
      log.error({ call: call.id, target, err: (err as Error).message }, "call: transfer failed; the pipeline takes the call back");
      // A call that ended meanwhile keeps the reason it ended with.
      if (call.state !== "ended") call.endReason = undefined;
      if (mode === "warm") await page.request({ type: "unhold", sipCallId: call.sipCallId }).catch(() => {});
      if (call.state === "answered" && call.slot !== undefined) {
        const again = streams.create(call, call.slot);
        call.stream = again;
        await again.open(streams.info(call)).then(
          () => again.mediaConnected(),
          // Closed while dialling: the call ended meanwhile, and finish() closed the new stream and its dial.
          (e: Error) => (again.isClosed ? undefined : lifecycle.hangup(call.id, `transfer-failed: ${e.message}`)),
        );
      }
      throw Object.assign(new Error(`transfer to ${target} failed: ${(err as Error).message}`), { status: 502 });
    }
  }

  /** 404 for an unknown call, 409 for one not (or no longer) answered. */
  private answeredCall(callId: string): Call {
    const call = this.d.calls.get(callId);
    if (!call) throw Object.assign(new Error(`no call ${callId}`), { status: 404 });
    if (call.state !== "answered") throw Object.assign(new Error(`call ${callId} is ${call.state}, not answered`), { status: 409 });
    return call;
  }
}

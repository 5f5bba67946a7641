import type { Logger } from "pino";
import type { PageLink } from "../bridge/page-link.ts";
import { profileWith, type PipelineCallAction, type PipelineProfile, type StreamInfo } from "../bridge/pipeline/index.ts";
import { CallStream } from "../bridge/stream.ts";
import type { Call } from "./calls.ts";
import type { CallAction } from "./cluster/cluster.ts";
import type { PipelineConfig } from "./config.ts";

/** A pipeline may queue this much audio ahead of real time (TTS often sends whole replies at once). */
const MAX_PLAYOUT_QUEUE_MS = 120_000;

/** What a call's stream asks of the host. */
export interface StreamOwner {
  /** The pipeline went away or asked to hang up. */
  hangup(callId: string, reason: string): Promise<void>;
  /** The pipeline asks to send digits to the caller. */
  sendDtmf(callId: string, digits: string): Promise<void>;
  /** A pipeline's tool call: the REST API's action on this call (hang-up, DTMF, transfer). */
  act(callId: string, action: CallAction): Promise<unknown>;
}

/** Makes the pipeline streams of calls (answering, outbound and a failed transfer all need one). */
export interface StreamFactory {
  create(call: Call, slot: number): CallStream;
  /** The pipeline's `start`: who calls whom, RingCentral's ids, and the call's custom parameters. */
  info(call: Call): StreamInfo;
}

export class CallStreams implements StreamFactory {
  constructor(
    private readonly link: PageLink,
    private readonly profile: PipelineProfile,
    private readonly pipeline: PipelineConfig,
    private readonly accountId: () => string,
    private readonly owner: StreamOwner,
    private readonly log: Logger,
  ) {}

  create(call: Call, slot: number): CallStream {
    return new CallStream(
      this.link,
      slot,
      {
        // Per-call settings were checked when the call was placed (POST /calls).
        profile: ((p) => (Array.isArray(p) ? this.profile : p))(profileWith(this.profile, call.pipelineSettings)),
        url: call.pipelineUrl ?? this.pipeline.url,
        connectTimeoutMs: this.pipeline.connectTimeoutMs,
        playoutLeadMs: this.pipeline.playoutLeadMs,
        uplink: this.pipeline.uplink,
        maxQueueMs: MAX_PLAYOUT_QUEUE_MS,
        reconnect: this.pipeline.dropAction === "reconnect",
      },
      {
        onEnd: (reason) => void this.owner.hangup(call.id, reason),
        onSendDtmf: (digits) => this.owner.sendDtmf(call.id, digits).catch((err) => this.log.warn({ call: call.id, err: (err as Error).message }, "dtmf: could not send")),
        onCallAction: async (action) => void (await this.owner.act(call.id, toCallAction(action))),
      },
      this.log.child({ call: call.id, part: "stream" }),
    );
  }

  info(call: Call): StreamInfo {
    return {
      callSid: call.telephonySessionId ?? call.id,
      accountId: this.accountId(),
      from: call.from,
      to: call.to,
      direction: call.direction,
      telephonySessionId: call.telephonySessionId,
      partyId: call.partyId,
      customParameters: {
        from: call.from,
        to: call.to,
        direction: call.direction,
        telephonySessionId: call.telephonySessionId ?? "",
        partyId: call.partyId ?? "",
        callId: call.id,
        // The names Pipecat's runner reads for the caller and callee.
        from_number: call.from,
        to_number: call.to,
        ...call.customParameters,
      },
    };
  }
}

/** A tool's action as the REST API names it. */
function toCallAction(a: PipelineCallAction): CallAction {
  return a.kind === "hangup" ? { kind: "hangup", reason: "pipeline-hangup" } : a;
}

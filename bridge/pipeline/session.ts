/**
 * One stream: the connection to the pipeline for one call. Each profile (twilio, l16) is one
 * file implementing this (and exporting its PipelineProtocol); ./index.ts lists them.
 */
import type { PipelineDrop } from "./socket.ts";

export type { PipelineDrop, PipelineOptions } from "./socket.ts";

export interface StreamInfo {
  /** RingCentral telephonySessionId (Call Control's id); falls back to the host's call id. */
  callSid: string;
  accountId: string;
  from: string;
  to: string;
  direction: "inbound" | "outbound";
  telephonySessionId?: string;
  partyId?: string;
  customParameters: Record<string, string>;
}

/** Call control a pipeline asks for as a tool (openai-realtime, elevenlabs): what the REST API does to a call. */
export type PipelineCallAction = { kind: "hangup" } | { kind: "dtmf"; digits: string } | { kind: "transfer"; target: string; mode: "blind" | "warm" };

/** Where the call's playout stands, in samples since the call's start (bridge/playout.ts). */
export interface PlayoutPosition {
  /** Samples pushed so far: where the next pushed sample will play. */
  readonly pushedSamples: number;
  /** Samples the page has consumed (played to the caller), as of its last report. */
  readonly playedSamples: number;
  /** Samples played by now: the last report plus the time since, at most what the page holds. */
  playingSamples(): number;
}

export interface PipelineHandlers {
  /** What has been pushed and played so far (a barge-in truncates the agent's item to what was heard). */
  readonly playout: PlayoutPosition;
  /** Agent audio, PCM16 at the stream's sample rate. */
  onAudio(pcm: Int16Array): void;
  onMark(name: string): void;
  onClear(): void;
  /** The pipeline asks to send digits to the caller (RFC 4733 through the WebPhone). */
  onSendDtmf(digits: string): void;
  /** The pipeline asks to end the call. */
  onHangup(): void;
  /** The pipeline's connection ended, not by us: closed, half-open (no pong), or a message over the size bound. */
  onDropped(drop: PipelineDrop): void;
  /** A message that could not be used: logged, never fatal. */
  onBadMessage(problem: string): void;
  /** Runs call control through the host (the REST API's code paths); rejects with why it could not. */
  onCallAction(action: PipelineCallAction): Promise<void>;
  /** A finished line of the conversation: logged and kept (bounded) on the call's record. */
  onTranscript(role: "caller" | "agent", text: string): void;
  /** Something worth a line in the call's log (no secrets, no audio). */
  onNote(fields: Record<string, unknown>, msg: string): void;
}

export interface PipelineSession {
  /** The sample rate both directions use on this stream (the page's audio graph runs at it). */
  readonly sampleRate: number;
  /** false: a new connection would be a new conversation (elevenlabs), so a drop ends the call even with PIPELINE_DROP_ACTION=reconnect. */
  readonly resumable?: boolean;
  /** The pipeline connection's last ping round trip (ms), once a pong came. */
  readonly rttMs: number | undefined;
  /** Dials the pipeline and sends the opening messages; rejects when it cannot be reached in time. */
  open(info: StreamInfo): Promise<void>;
  /** 20 ms of the caller's audio, PCM16 at sampleRate; false when dropped because the pipeline reads too slowly. */
  sendCallerAudio(pcm: Int16Array): boolean;
  sendMarkPlayed(name: string): void;
  sendDtmf(digit: string): void;
  /** Sends the profile's stop message (if its start went out) and closes; at any stage, dialling included. */
  close(reason: string): void;
}

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

export interface PipelineHandlers {
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
}

export interface PipelineSession {
  /** The sample rate both directions use on this stream (the page's audio graph runs at it). */
  readonly sampleRate: number;
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

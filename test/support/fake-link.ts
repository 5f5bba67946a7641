/**
 * A stand-in for the page link under a real CallStream: the test plays the page, feeding caller
 * frames into a slot and seeing the agent audio and clears the stream sends back.
 */
import type { CallerFrameHandler, FastFrameHandler, PageLink } from "../../bridge/page-link.ts";
import { newCallerHeader, newFastHeader } from "../../bridge/page-frames.ts";

export class FakeLink {
  private readonly handlers: Array<CallerFrameHandler | undefined> = [];
  agentSamples = 0;
  clears = 0;
  private readonly header = newCallerHeader();
  private readonly fastHandlers: Array<FastFrameHandler | undefined> = [];
  private readonly fastHeader = newFastHeader();

  onCallerFrames(slot: number, handler: CallerFrameHandler | undefined): void {
    this.handlers[slot] = handler;
  }

  onFastFrames(slot: number, handler: FastFrameHandler | undefined): void {
    this.fastHandlers[slot] = handler;
  }

  sendAgent(_slot: number, pcm: Int16Array): void {
    this.agentSamples += pcm.length;
  }

  sendSlotCommand(): void {
    this.clears++;
  }

  /** The page's caller frame for `slot` (the page consumed nothing: no media up in these tests). */
  frame(slot: number, pcm: Int16Array): void {
    this.header.slot = slot;
    this.header.seq++;
    this.handlers[slot]?.(this.header, pcm);
  }

  /** The page's fast uplink frame for `slot`, with the tap's gap counters so far. */
  fastFrame(slot: number, pcm: Int16Array, gaps = 0, gapSamples = 0): void {
    Object.assign(this.fastHeader, { slot, gaps, gapSamples });
    this.fastHeader.seq++;
    this.fastHandlers[slot]?.(this.fastHeader, pcm);
  }

  hasHandler(slot: number): boolean {
    return this.handlers[slot] !== undefined;
  }

  get asLink(): PageLink {
    return this as unknown as PageLink;
  }
}

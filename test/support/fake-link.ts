/**
 * A stand-in for the page link under a real CallStream: the test plays the page, feeding caller
 * frames into a slot and seeing the agent audio and clears the stream sends back.
 */
import type { CallerFrameHandler, PageLink } from "../../bridge/page-link.ts";
import { newCallerHeader } from "../../bridge/page-frames.ts";

export class FakeLink {
  private readonly handlers: Array<CallerFrameHandler | undefined> = [];
  agentSamples = 0;
  clears = 0;
  private readonly header = newCallerHeader();

  onCallerFrames(slot: number, handler: CallerFrameHandler | undefined): void {
    this.handlers[slot] = handler;
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

  hasHandler(slot: number): boolean {
    return this.handlers[slot] !== undefined;
  }

  get asLink(): PageLink {
    return this as unknown as PageLink;
  }
}

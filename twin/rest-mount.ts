import type express from "express";
import type { TwinContext } from "./context.ts";

/** Placeholder until the REST side lands: mounts nothing. */
export function mountRest(_app: express.Express, _ctx: TwinContext): { listWebhooks: () => unknown[]; stop(): void } {
  return { listWebhooks: () => [], stop() {} };
}

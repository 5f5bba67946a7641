import type { Response } from "express";
import type { z } from "zod";

/** The control API's error bodies: `{error, message}` (docs/twin.md, "The control API"). */
export function bad(res: Response, error: z.ZodError): void {
  res.status(400).json({ error: "invalid_request", message: error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ") });
}

export function notFound(res: Response, message: string): void {
  res.status(404).json({ error: "not_found", message });
}

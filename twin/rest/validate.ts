import type { z } from "zod";
import { rcErrors } from "./errors.ts";

/** Parses a request body with zod; the first issue becomes RingCentral's CMN-101 naming the parameter. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const name = issue && issue.path.length > 0 ? issue.path.map(String).join(".") : "body";
  throw rcErrors.invalidParameter(name, issue?.message);
}

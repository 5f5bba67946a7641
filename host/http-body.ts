import express, { type NextFunction, type Request, type RequestHandler, type Response } from "express";

/** Deeper than this is no body any route takes: refused before a schema walks it. */
export const MAX_JSON_DEPTH = 16;
/** Names that mean something to JavaScript objects: never a field name here (zod drops `__proto__` silently). */
const PROTO_KEYS = new Set(["__proto__", "constructor", "prototype"]);

type Media = "application/json" | "application/x-www-form-urlencoded";

/** An error the HTTP error handler turns into its status and a JSON body (see host/http.ts). */
export function httpError(status: number, message: string): Error & { status: number; expose: true } {
  return Object.assign(new Error(message), { status, expose: true as const });
}

/**
 * A body parser that refuses, with a clear status: another media type (415), a charset other than
 * UTF-8 (415), compressed bodies (415: nothing here sends them, and they would be a way around the
 * size bound's intent), more than `limit` (413), nesting deeper than MAX_JSON_DEPTH and
 * prototype-shaped field names (400). A request without a body passes with `req.body` unset.
 */
function bodyOf(media: Media, limit: string, parse: RequestHandler): RequestHandler[] {
  const check = (req: Request, _res: Response, next: NextFunction) => {
    if (!hasBody(req)) return next();
    if (!req.is(media)) return next(httpError(415, `Content-Type must be ${media}`));
    const charset = /;\s*charset="?([^";\s]+)/i.exec(req.headers["content-type"] ?? "")?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") return next(httpError(415, "the body's charset must be utf-8"));
    next();
  };
  const shape = (req: Request, _res: Response, next: NextFunction) => {
    const problem = shapeProblem(req.body);
    next(problem ? httpError(400, problem) : undefined);
  };
  return [check, parse, shape];
}

export const jsonBody = (limit: string): RequestHandler[] => bodyOf("application/json", limit, express.json({ limit, inflate: false, strict: true }));
export const formBody = (limit: string): RequestHandler[] => bodyOf("application/x-www-form-urlencoded", limit, express.urlencoded({ limit, inflate: false, extended: false }));

function hasBody(req: Request): boolean {
  return req.headers["transfer-encoding"] !== undefined || (req.headers["content-length"] !== undefined && req.headers["content-length"] !== "0");
}

/** Why a parsed body is refused (too deep, a prototype-shaped key), or undefined. Iterative: depth costs no stack. */
export function shapeProblem(body: unknown): string | undefined {
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value: body, path: "", depth: 0 }];
  while (stack.length) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value !== "object" || value === null) continue;
    if (depth >= MAX_JSON_DEPTH) return `body: nested deeper than ${MAX_JSON_DEPTH} levels`;
    for (const key of Object.keys(value)) {
      const at = path ? `${path}.${key}` : key;
      if (PROTO_KEYS.has(key)) return `${at}: "${key}" is not allowed as a field name`;
      stack.push({ value: (value as Record<string, unknown>)[key], path: at, depth: depth + 1 });
    }
  }
  return undefined;
}

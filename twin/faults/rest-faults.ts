import type { RequestHandler } from "express";
import { ApiError, OAuthError, sendError } from "../rest/errors.ts";
import { Budget, type BudgetSpec } from "./budget.ts";

export interface RestFaultSpec extends BudgetSpec {
  /** HTTP method, or `*` (the default) for any. */
  method?: string;
  /** The full path; `*` matches one segment, `**` anything (e.g. `/restapi/oauth/**`). */
  path: string;
  /** Answer with this status (429 or 5xx) instead of serving the request. */
  status?: number;
  /** `Retry-After` in seconds. */
  retryAfterS?: number;
  errorCode?: string;
  message?: string;
  /** Wait this long before answering (with `status`) or serving the request (without). */
  delayMs?: number;
}

interface Rule extends RestFaultSpec {
  id: string;
  method: string;
  pattern: RegExp;
  budget: Budget;
}

/**
 * RingCentral's code and text for each status. CMN-301 (rate limit) and CMN-201 (unavailable)
 * are RingCentral's; the others are the twin's guesses, like CMN-500 in errors.ts.
 */
const CODES: Record<number, [string, string]> = {
  429: ["CMN-301", "Request rate exceeded"],
  500: ["CMN-500", "Internal Server Error"],
  502: ["AGW-502", "Bad Gateway"],
  503: ["CMN-201", "Service Temporary Unavailable"],
  504: ["AGW-504", "Gateway Timeout"],
};

function globToRegExp(glob: string): RegExp {
  const body = glob
    .split(/(\*\*|\*)/)
    .map((part) => (part === "**" ? ".*" : part === "*" ? "[^/]*" : part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")))
    .join("");
  return new RegExp(`^${body}$`);
}

function faultError(rule: Rule, path: string): ApiError | OAuthError {
  const status = rule.status!;
  const [code, text] = CODES[status] ?? ["CMN-500", "Internal Server Error"];
  const errorCode = rule.errorCode ?? code;
  const message = rule.message ?? text;
  // The OAuth endpoints answer in the OAuth shape (errors.ts); the `error` names are the twin's.
  if (path.startsWith("/restapi/oauth/")) return new OAuthError(status, status === 429 || status === 503 ? "temporarily_unavailable" : "server_error", errorCode, message);
  return new ApiError(status, errorCode, message);
}

/** Chosen REST routes answer with errors, or late, for a bounded number of requests or time. */
export class RestFaults {
  private rules: Rule[] = [];
  private nextId = 0;

  add(spec: RestFaultSpec): Rule {
    const rule: Rule = { ...spec, id: `rest-${++this.nextId}`, method: (spec.method ?? "*").toUpperCase(), pattern: globToRegExp(spec.path), budget: new Budget(spec) };
    this.rules.push(rule);
    return rule;
  }

  remove(id: string): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    return this.rules.length < before;
  }

  clear(): void {
    this.rules = [];
  }

  /** Runs first under /restapi (after CORS, so pages can read the error). The first live matching rule strikes. */
  middleware(): RequestHandler {
    return (req, res, next) => {
      const path = req.originalUrl.split("?")[0];
      const rule = this.rules.find((r) => (r.method === "*" || r.method === req.method) && r.pattern.test(path) && r.budget.live);
      if (!rule?.budget.take()) return next();
      const act = () => {
        if (rule.status === undefined) return next();
        if (rule.retryAfterS !== undefined) res.set("Retry-After", String(rule.retryAfterS));
        sendError(res, faultError(rule, path));
      };
      if (rule.delayMs) setTimeout(act, rule.delayMs);
      else act();
    };
  }

  toJSON() {
    return this.rules.map(({ id, method, path, status, retryAfterS, errorCode, message, delayMs, budget }) => ({
      id,
      method,
      path,
      status: status ?? null,
      retryAfterS: retryAfterS ?? null,
      errorCode: errorCode ?? null,
      message: message ?? null,
      delayMs: delayMs ?? null,
      ...budget.toJSON(),
    }));
  }

  describe(rule: Rule) {
    return this.toJSON().find((r) => r.id === rule.id)!;
  }
}

import type { Admission, SipProxyName } from "../sip/transport.ts";
import { Budget, type BudgetSpec } from "./budget.ts";

/** How a refused WebSocket upgrade looks on the wire (docs/twin.md, "Faults"). */
export type RefuseMode = "503" | "close" | "reset";

export interface RefuseConnectionsSpec extends BudgetSpec {
  mode?: RefuseMode;
  /** Sent as `Retry-After` on the 503. */
  retryAfterS?: number;
  /** Only this outbound proxy refuses (default: both). */
  proxy?: SipProxyName;
}

export interface RejectRegisterSpec extends BudgetSpec {
  status: number;
  reason?: string;
  /** SIP `Retry-After`, e.g. on a 503. */
  retryAfterS?: number;
  /** Only REGISTERs that carry credentials: the 401 challenge still goes out first. */
  onlyAuthorized?: boolean;
}

export type RegisterVerdict = { kind: "ignore" } | { kind: "reject"; status: number; reason: string; retryAfterS?: number };

/** RFC 3261's reason phrases for the codes a registrar may answer with. */
const REASONS: Record<number, string> = {
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  423: "Interval Too Brief",
  480: "Temporarily Unavailable",
  486: "Busy Here",
  500: "Server Internal Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Server Time-out",
  600: "Busy Everywhere",
  603: "Decline",
};

/**
 * SIP faults that are windows in time or counts: refused WebSocket upgrades, rejected or
 * swallowed REGISTERs. The transport asks `admit()`, the registrar asks `onRegister()`.
 */
export class SipFaults {
  private refuse: { mode: RefuseMode; retryAfterS?: number; proxy?: SipProxyName; budget: Budget } | undefined;
  private reject: { status: number; reason: string; retryAfterS?: number; onlyAuthorized: boolean; budget: Budget } | undefined;
  private ignore: Budget | undefined;

  refuseConnections(spec: RefuseConnectionsSpec): void {
    this.refuse = { mode: spec.mode ?? "503", retryAfterS: spec.retryAfterS, proxy: spec.proxy, budget: new Budget(spec) };
  }

  rejectRegister(spec: RejectRegisterSpec): void {
    const reason = spec.reason ?? REASONS[spec.status] ?? "Error";
    this.reject = { status: spec.status, reason, retryAfterS: spec.retryAfterS, onlyAuthorized: Boolean(spec.onlyAuthorized), budget: new Budget(spec) };
  }

  ignoreRegister(spec: BudgetSpec): void {
    this.ignore = new Budget(spec);
  }

  clear(which?: "refuse-connections" | "reject-register" | "ignore-register"): void {
    if (!which || which === "refuse-connections") this.refuse = undefined;
    if (!which || which === "reject-register") this.reject = undefined;
    if (!which || which === "ignore-register") this.ignore = undefined;
  }

  admit(proxy: SipProxyName): Admission {
    const r = this.refuse;
    if (!r || (r.proxy && r.proxy !== proxy) || !r.budget.take()) return { kind: "accept" };
    return r.mode === "503" ? { kind: "503", retryAfterS: r.retryAfterS } : { kind: r.mode };
  }

  /** Swallowing wins over rejecting: a half-dead server answers nothing at all. */
  onRegister(hasCredentials: boolean): RegisterVerdict | undefined {
    if (this.ignore?.take()) return { kind: "ignore" };
    const r = this.reject;
    if (!r || (r.onlyAuthorized && !hasCredentials) || !r.budget.take()) return undefined;
    return { kind: "reject", status: r.status, reason: r.reason, retryAfterS: r.retryAfterS };
  }

  toJSON() {
    const { refuse: f, reject: j, ignore: i } = this;
    return {
      refuseConnections: f ? { mode: f.mode, retryAfterS: f.retryAfterS ?? null, proxy: f.proxy ?? null, ...f.budget.toJSON() } : null,
      rejectRegister: j ? { status: j.status, reason: j.reason, retryAfterS: j.retryAfterS ?? null, onlyAuthorized: j.onlyAuthorized, ...j.budget.toJSON() } : null,
      ignoreRegister: i ? i.toJSON() : null,
    };
  }
}

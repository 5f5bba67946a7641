import { randomBytes, randomUUID } from "node:crypto";

/** Token lifetimes in seconds, as the OAuth wire speaks them. RingCentral: access 600..3600, refresh up to 7 days. */
export interface TokenLimits {
  defaultAccessTtlS: number;
  minAccessTtlS: number;
  maxAccessTtlS: number;
  defaultRefreshTtlS: number;
  minRefreshTtlS: number;
  maxRefreshTtlS: number;
}

export const RC_TOKEN_LIMITS: TokenLimits = {
  defaultAccessTtlS: 3600,
  minAccessTtlS: 600,
  maxAccessTtlS: 3600,
  defaultRefreshTtlS: 604800,
  minRefreshTtlS: 600,
  maxRefreshTtlS: 604800,
};

/** One login: an access + refresh pair that rotates together on refresh. */
export interface TokenGrant {
  clientId: string;
  ownerId: string;
  endpointId: string;
  sessionId: string;
  accessToken: string;
  accessExpiresAtMs: number;
  refreshToken: string;
  refreshExpiresAtMs: number;
  /** Lifetimes as granted, so refresh can keep them when the client does not ask otherwise. */
  accessTtlS: number;
  refreshTtlS: number;
}

export type AccessCheck = { ok: true; grant: TokenGrant } | { ok: false; reason: "unknown" | "expired" };
export type RefreshCheck = { ok: true; grant: TokenGrant } | { ok: false; reason: "unknown" | "expired" };

const EXPIRED_GRACE_MS = 24 * 3600 * 1000;
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const newToken = () => randomBytes(36).toString("base64url");

/**
 * Access and refresh tokens of the twin. A refresh rotates both tokens (the old refresh token
 * stops working at once; the old access token lives on until it expires, so requests already
 * in flight do not fail). Revoking either token of a pair revokes the pair.
 */
export class TokenStore {
  readonly limits: TokenLimits;
  private readonly byAccess = new Map<string, TokenGrant>();
  private readonly byRefresh = new Map<string, TokenGrant>();

  constructor(limits: Partial<TokenLimits> = {}, private readonly now: () => number = Date.now) {
    this.limits = { ...RC_TOKEN_LIMITS, ...limits };
  }

  issue(clientId: string, ownerId: string, opts: { accessTtlS?: number; refreshTtlS?: number; endpointId?: string } = {}): TokenGrant {
    this.prune();
    const l = this.limits;
    const accessTtlS = Math.floor(clamp(opts.accessTtlS ?? l.defaultAccessTtlS, l.minAccessTtlS, l.maxAccessTtlS));
    const refreshTtlS = Math.floor(clamp(opts.refreshTtlS ?? l.defaultRefreshTtlS, l.minRefreshTtlS, l.maxRefreshTtlS));
    const nowMs = this.now();
    const grant: TokenGrant = {
      clientId,
      ownerId,
      endpointId: opts.endpointId ?? randomBytes(12).toString("base64url"),
      sessionId: randomUUID(),
      accessToken: newToken(),
      accessExpiresAtMs: nowMs + accessTtlS * 1000,
      refreshToken: newToken(),
      refreshExpiresAtMs: nowMs + refreshTtlS * 1000,
      accessTtlS,
      refreshTtlS,
    };
    this.byAccess.set(grant.accessToken, grant);
    this.byRefresh.set(grant.refreshToken, grant);
    return grant;
  }

  checkAccess(accessToken: string): AccessCheck {
    const grant = this.byAccess.get(accessToken);
    if (!grant) return { ok: false, reason: "unknown" };
    if (grant.accessExpiresAtMs <= this.now()) return { ok: false, reason: "expired" };
    return { ok: true, grant };
  }

  checkRefresh(refreshToken: string): RefreshCheck {
    const grant = this.byRefresh.get(refreshToken);
    if (!grant) return { ok: false, reason: "unknown" };
    if (grant.refreshExpiresAtMs <= this.now()) return { ok: false, reason: "expired" };
    return { ok: true, grant };
  }

  /** Rotates the pair; the caller has already checked the refresh token and the client. */
  rotate(old: TokenGrant, opts: { accessTtlS?: number; refreshTtlS?: number } = {}): TokenGrant {
    this.byRefresh.delete(old.refreshToken);
    // The refresh token keeps its original deadline: refreshing does not extend a login forever.
    const remainingRefreshS = Math.max(1, Math.floor((old.refreshExpiresAtMs - this.now()) / 1000));
    const next = this.issue(old.clientId, old.ownerId, {
      accessTtlS: opts.accessTtlS ?? old.accessTtlS,
      refreshTtlS: Math.min(opts.refreshTtlS ?? old.refreshTtlS, remainingRefreshS),
      endpointId: old.endpointId,
    });
    next.sessionId = old.sessionId;
    return next;
  }

  /** Revokes the pair that holds this token (access or refresh). Unknown tokens are ignored (RFC 7009). */
  revoke(token: string): boolean {
    const grant = this.byAccess.get(token) ?? this.byRefresh.get(token);
    if (!grant) return false;
    for (const [k, g] of this.byAccess) if (g.sessionId === grant.sessionId) this.byAccess.delete(k);
    for (const [k, g] of this.byRefresh) if (g.sessionId === grant.sessionId) this.byRefresh.delete(k);
    return true;
  }

  /** Test hook: make an access token expire now, to exercise the client's refresh path. */
  expireAccess(accessToken: string): void {
    const grant = this.byAccess.get(accessToken);
    if (grant) grant.accessExpiresAtMs = this.now();
  }

  clear(): void {
    this.byAccess.clear();
    this.byRefresh.clear();
  }

  private prune(): void {
    const nowMs = this.now();
    // Expired access tokens linger a day so a late call still hears "expired", not "not found".
    for (const [k, g] of this.byAccess) if (g.accessExpiresAtMs + EXPIRED_GRACE_MS <= nowMs) this.byAccess.delete(k);
    for (const [k, g] of this.byRefresh) if (g.refreshExpiresAtMs <= nowMs) this.byRefresh.delete(k);
  }
}

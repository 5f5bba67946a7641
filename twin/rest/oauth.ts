import { timingSafeEqual } from "node:crypto";
import express, { type Request, type RequestHandler, type Router } from "express";
import type { TwinAccount } from "../account.ts";
import type { TwinContext } from "../context.ts";
import { oauthErrors, rcErrors } from "./errors.ts";
import type { TokenGrant, TokenStore } from "./tokens.ts";

const JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const SCOPE = "VoipCalling CallControl WebhookSubscriptions ReadAccounts ReadCallLog";

export interface OAuthOptions {
  /** Accept `client_id` in the body with no secret (what the SDK sends when built without clientSecret). */
  allowPublicClient?: boolean;
}

const safeEqual = (a: string, b: string): boolean => {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
};

/** Who is calling the token endpoint: Basic client credentials, or client_id (+ optional client_secret) in the body. */
function authenticateClient(req: Request, account: TwinAccount, opts: OAuthOptions): string {
  const header = req.get("authorization");
  const body = formBody(req);
  if (header) {
    const m = /^basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
    if (!m) throw oauthErrors.malformedClientAuth();
    const decoded = Buffer.from(m[1], "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    const id = colon < 0 ? decoded : decoded.slice(0, colon);
    const secret = colon < 0 ? "" : decoded.slice(colon + 1);
    if (!safeEqual(id, account.clientId)) throw oauthErrors.invalidClient(id);
    if (secret === "" ? !opts.allowPublicClient : !safeEqual(secret, account.clientSecret)) throw oauthErrors.invalidClient(id);
    return id;
  }
  const id = body.client_id;
  if (!id) throw oauthErrors.clientAuthRequired();
  if (!safeEqual(id, account.clientId)) throw oauthErrors.invalidClient(id);
  const secret = body.client_secret;
  if (secret ? !safeEqual(secret, account.clientSecret) : !opts.allowPublicClient) throw oauthErrors.invalidClient(id);
  return id;
}

/** The urlencoded parser yields strings; anything else (JSON, repeated keys) is ignored. */
function formBody(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  const body: unknown = req.body;
  if (body && typeof body === "object") {
    for (const [k, v] of Object.entries(body)) if (typeof v === "string") out[k] = v;
  }
  return out;
}

/** A ttl parameter in seconds; absent or not a number means "use the default". */
function ttlParam(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === "") return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

function tokenResponse(grant: TokenGrant, nowMs: number) {
  return {
    access_token: grant.accessToken,
    token_type: "bearer",
    expires_in: Math.max(0, Math.round((grant.accessExpiresAtMs - nowMs) / 1000)),
    refresh_token: grant.refreshToken,
    refresh_token_expires_in: Math.max(0, Math.round((grant.refreshExpiresAtMs - nowMs) / 1000)),
    scope: SCOPE,
    owner_id: grant.ownerId,
    endpoint_id: grant.endpointId,
    session_id: grant.sessionId,
  };
}

/** `POST /oauth/token` (jwt-bearer, refresh_token) and `POST /oauth/revoke`, mounted under /restapi. */
export function oauthRouter(ctx: TwinContext, tokens: TokenStore, opts: OAuthOptions = {}): Router {
  const router = express.Router();
  const log = ctx.log.child({ component: "oauth" });
  const options = { allowPublicClient: true, ...opts };
  router.use("/oauth", express.urlencoded({ extended: false, limit: "64kb" }));

  router.post("/oauth/token", (req, res) => {
    const clientId = authenticateClient(req, ctx.account, options);
    const body = formBody(req);
    const grantType = body.grant_type;
    if (!grantType) throw oauthErrors.missingParameter("grant_type");
    const ttls = { accessTtlS: ttlParam(body.access_token_ttl), refreshTtlS: ttlParam(body.refresh_token_ttl) };
    let grant: TokenGrant;
    if (grantType === JWT_GRANT) {
      const assertion = body.assertion;
      if (!assertion) throw oauthErrors.missingParameter("assertion");
      // Each user's JWT logs in as that user: the token's owner is its extension.
      const user = ctx.account.extensions.find((e) => safeEqual(assertion, e.jwt));
      if (!user) throw oauthErrors.invalidJwt();
      grant = tokens.issue(clientId, user.extensionId, { ...ttls, endpointId: body.endpoint_id });
    } else if (grantType === "refresh_token") {
      if (!body.refresh_token) throw oauthErrors.missingParameter("refresh_token");
      const check = tokens.checkRefresh(body.refresh_token);
      if (!check.ok) throw check.reason === "expired" ? oauthErrors.refreshExpired() : oauthErrors.refreshNotFound();
      if (check.grant.clientId !== clientId) throw oauthErrors.refreshNotFound();
      grant = tokens.rotate(check.grant, ttls);
    } else {
      throw oauthErrors.unsupportedGrant(grantType);
    }
    log.info({ grantType, expiresInS: grant.accessTtlS }, "token issued");
    res.set({ "Cache-Control": "no-store", Pragma: "no-cache" }).json(tokenResponse(grant, Date.now()));
  });

  router.post("/oauth/revoke", (req, res) => {
    authenticateClient(req, ctx.account, options);
    const token = formBody(req).token;
    if (!token) throw oauthErrors.missingParameter("token");
    const revoked = tokens.revoke(token);
    log.info({ revoked }, "token revoke");
    res.status(200).end();
  });

  return router;
}

/**
 * Every /restapi call other than /oauth/* needs `Authorization: Bearer <token>`; the scheme is
 * matched case-insensitively because the SDK sends the token_type as given (`bearer`).
 */
export function bearerAuth(tokens: TokenStore): RequestHandler {
  return (req, res, next) => {
    const header = req.get("authorization");
    if (!header) throw rcErrors.noAuthHeader();
    const m = /^bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw rcErrors.badAuthHeader();
    const check = tokens.checkAccess(m[1]);
    if (!check.ok) throw check.reason === "expired" ? rcErrors.tokenExpired() : rcErrors.tokenNotFound();
    res.locals.grant = check.grant;
    next();
  };
}

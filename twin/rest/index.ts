import express, { type RequestHandler, type Router } from "express";
import type { TwinContext } from "../context.ts";
import { WebhookDeliveries, type WebhookOptions } from "../webhooks.ts";
import { RestFaults } from "../faults/rest-faults.ts";
import { callControlRouter } from "./call-control.ts";
import { OAuthError, rcErrors, restErrorHandler } from "./errors.ts";
import { extensionRouter } from "./extension.ts";
import { bearerAuth, type OAuthOptions, oauthRouter } from "./oauth.ts";
import { provisionRouter } from "./provision.ts";
import { type SubscriptionOptions, Subscriptions } from "./subscription-store.ts";
import { subscriptionsRouter } from "./subscriptions.ts";
import { type TokenLimits, TokenStore } from "./tokens.ts";

export { ApiError, OAuthError, rcErrors } from "./errors.ts";
export { TokenStore, RC_TOKEN_LIMITS, type TokenLimits, type TokenGrant } from "./tokens.ts";
export { Subscriptions, type Subscription, type SubscriptionInfo } from "./subscription-store.ts";
export { WebhookDeliveries, checkWebhookAddress, type WebhookLogEntry } from "../webhooks.ts";

export interface RestOptions {
  tokens?: Partial<TokenLimits>;
  oauth?: OAuthOptions;
  webhooks?: WebhookOptions;
  subscriptions?: SubscriptionOptions;
}

/** The REST side's state. Build once per twin; `stop()` clears expiry timers and aborts deliveries in flight. */
export interface RestDeps {
  tokens: TokenStore;
  webhooks: WebhookDeliveries;
  subscriptions: Subscriptions;
  oauth: OAuthOptions;
  /** Injected REST faults (POST /twin/faults/rest). */
  faults: RestFaults;
  stop(): void;
}

export function createRestDeps(ctx: TwinContext, options: RestOptions = {}): RestDeps {
  const tokens = new TokenStore(options.tokens);
  const webhooks = new WebhookDeliveries(ctx.log.child({ component: "webhooks" }), options.webhooks);
  const subscriptions = new Subscriptions(ctx, webhooks, options.subscriptions);
  return {
    tokens,
    webhooks,
    subscriptions,
    oauth: options.oauth ?? {},
    faults: new RestFaults(),
    stop() {
      subscriptions.stop();
      webhooks.stop();
    },
  };
}

/**
 * CORS for pages that call the twin from another origin. The SDK sends `credentials:'include'`,
 * so the origin is echoed exactly (a `*` would be refused by the browser).
 */
function cors(): RequestHandler {
  return (req, res, next) => {
    const origin = req.get("origin");
    if (!origin) return next();
    res.vary("Origin");
    res.set({
      "Access-Control-Allow-Origin": origin,
      "Access-Control-Allow-Credentials": "true",
      "Access-Control-Expose-Headers": "retry-after, www-authenticate, rcrequestid",
    });
    if (req.method !== "OPTIONS" || !req.get("access-control-request-method")) return next();
    res.set({
      "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
      "Access-Control-Allow-Headers": req.get("access-control-request-headers") ?? "authorization, client-id, content-type, x-user-agent",
      "Access-Control-Max-Age": "600",
    });
    res.status(204).end();
  };
}

/** Unknown /restapi routes; under /oauth the OAuth error shape, elsewhere the API one. */
const notFound: RequestHandler = (req) => {
  if (req.path.startsWith("/oauth/")) throw new OAuthError(404, "invalid_request", "OAU-404", `Resource not found: ${req.method} ${req.originalUrl}`);
  throw rcErrors.routeNotFound(req.method, req.originalUrl);
};

/**
 * Everything under /restapi. Mount the returned router at `/`; it only answers /restapi/...
 * and lets other paths (e.g. /twin/...) through untouched.
 */
export function restRouter(ctx: TwinContext, deps: RestDeps): Router {
  const api = express.Router();
  api.use(cors());
  api.use(deps.faults.middleware());
  api.use(oauthRouter(ctx, deps.tokens, deps.oauth));
  // Authentication comes before JSON parsing: an anonymous caller hears 401, not a parse error.
  const auth = bearerAuth(deps.tokens);
  api.use((req, res, next) => (req.path.startsWith("/oauth/") ? next() : auth(req, res, next)));
  api.use(express.json({ limit: "1mb" }));
  api.use(provisionRouter(ctx));
  api.use(extensionRouter(ctx));
  api.use(subscriptionsRouter(ctx, deps.subscriptions));
  api.use(callControlRouter(ctx));
  api.use(notFound);
  api.use(restErrorHandler(ctx.log.child({ component: "rest" })));

  const root = express.Router();
  root.use("/restapi", api);
  return root;
}

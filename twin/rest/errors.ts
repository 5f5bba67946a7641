import type { ErrorRequestHandler, Response } from "express";
import type { Logger } from "pino";

/**
 * RingCentral's two error shapes. The SDK turns either into an ApiError whose message is
 * `message | error_description` (sdk:src/http/Client.ts `error()`), so both carry a readable text.
 */
export interface RcErrorEntry {
  errorCode: string;
  message: string;
  parameterName?: string;
  parameterValue?: string;
}

/** REST API error: `{errorCode, message, errors:[{errorCode, message, ...}]}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
    readonly detail: Omit<RcErrorEntry, "errorCode" | "message"> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }

  toJSON(): { errorCode: string; message: string; errors: RcErrorEntry[] } {
    return {
      errorCode: this.errorCode,
      message: this.message,
      errors: [{ errorCode: this.errorCode, message: this.message, ...this.detail }],
    };
  }
}

/** OAuth endpoint error: `{error, error_description, errors:[{errorCode, message, parameters?}]}`. */
export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly errorCode: string,
    description: string,
    readonly parameters?: Array<{ parameterName: string; parameterValue: string }>,
  ) {
    super(description);
    this.name = "OAuthError";
  }

  toJSON(): { error: string; error_description: string; errors: Array<RcErrorEntry & { parameters?: unknown }> } {
    const entry = { errorCode: this.errorCode, message: this.message, ...(this.parameters ? { parameters: this.parameters } : {}) };
    return { error: this.error, error_description: this.message, errors: [entry] };
  }
}

/** The errors the twin raises, named for what went wrong; codes follow RingCentral where known. */
export const rcErrors = {
  noAuthHeader: () => new ApiError(401, "AGW-401", "Authorization header is not specified", {}, bearerChallenge),
  badAuthHeader: () => new ApiError(401, "AGW-402", "Invalid Authorization header", {}, bearerChallenge),
  tokenNotFound: () => tokenError("TokenInvalid", "Token not found"),
  tokenExpired: () => tokenError("TokenExpired", "Access token expired"),
  notFound: (parameterName: string, parameterValue?: string) =>
    new ApiError(404, "CMN-102", `Resource for parameter [${parameterName}] is not found`, withValue(parameterName, parameterValue)),
  invalidParameter: (parameterName: string, why?: string) =>
    new ApiError(400, "CMN-101", `Parameter [${parameterName}] value is invalid${why ? `: ${why}` : ""}`, { parameterName }),
  malformedJson: (why: string) => new ApiError(400, "CMN-101", `Request body is not valid JSON: ${why}`, { parameterName: "body" }),
  routeNotFound: (method: string, path: string) => new ApiError(404, "AGW-404", `Resource not found: ${method} ${path}`),
  internal: () => new ApiError(500, "CMN-500", "Internal server error (twin)"),
};

export const oauthErrors = {
  clientAuthRequired: () => new OAuthError(401, "invalid_client", "OAU-123", "Client authentication is required"),
  malformedClientAuth: () => new OAuthError(400, "invalid_client", "OAU-123", "Authentication header value is malformed"),
  invalidClient: (clientId: string) =>
    new OAuthError(401, "invalid_client", "OAU-153", `Invalid client: ${clientId}`, [{ parameterName: "client_id", parameterValue: clientId }]),
  unsupportedGrant: (grantType: string) =>
    new OAuthError(400, "invalid_request", "OAU-250", `Unsupported grant type: [${grantType}]`),
  missingParameter: (name: string) => new OAuthError(400, "invalid_request", "OAU-101", `Parameter [${name}] is required`),
  invalidJwt: () => new OAuthError(400, "invalid_grant", "OAU-213", "Invalid JWT: token not found or signature mismatch"),
  refreshNotFound: () => new OAuthError(400, "invalid_grant", "OAU-213", "Token not found"),
  refreshExpired: () => new OAuthError(400, "invalid_grant", "OAU-210", "Token expired"),
};

const bearerChallenge = { "WWW-Authenticate": 'Bearer realm="RingCentral REST API"' };

function tokenError(errorCode: string, message: string): ApiError {
  // RingCentral puts a symbolic code on top and OAU-213 in the list for bad access tokens.
  const err = new ApiError(401, errorCode, message, {}, bearerChallenge);
  err.toJSON = () => ({ errorCode, message, errors: [{ errorCode: "OAU-213", message }] });
  return err;
}

function withValue(parameterName: string, parameterValue?: string): Omit<RcErrorEntry, "errorCode" | "message"> {
  return parameterValue === undefined ? { parameterName } : { parameterName, parameterValue };
}

export function sendError(res: Response, err: ApiError | OAuthError): void {
  if (err instanceof ApiError) res.set(err.headers);
  if (err instanceof OAuthError) res.set({ "Cache-Control": "no-store", Pragma: "no-cache" });
  res.status(err.status).json(err.toJSON());
}

interface HttpishError {
  type?: string;
  status?: number;
  statusCode?: number;
  message?: string;
}

/**
 * Last handler of the /restapi router: every failure, including body-parser errors and bugs,
 * leaves as a RingCentral-shaped JSON error so no request crashes the server or hangs.
 */
export function restErrorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) return next(err);
    if (err instanceof ApiError || err instanceof OAuthError) return sendError(res, err);
    const e = (err ?? {}) as HttpishError;
    const status = e.status ?? e.statusCode;
    const isOAuth = req.path.startsWith("/oauth/");
    if (e.type === "entity.parse.failed") {
      return sendError(res, isOAuth ? new OAuthError(400, "invalid_request", "OAU-101", "Malformed request body") : rcErrors.malformedJson(e.message ?? "parse error"));
    }
    if (typeof status === "number" && status >= 400 && status < 500) {
      const message = e.message || "Bad request";
      return sendError(res, isOAuth ? new OAuthError(status, "invalid_request", "OAU-101", message) : new ApiError(status, "CMN-101", message));
    }
    log.error({ err, method: req.method, path: req.originalUrl }, "unhandled error in REST route");
    sendError(res, rcErrors.internal());
  };
}

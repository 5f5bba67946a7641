import express, { type Express, type NextFunction, type Request, type Response } from "express";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { createBoundedServer, type HttpTimeouts } from "../bridge/http-bounds.ts";
import type { Host } from "./host.ts";
import { twilioRestRouter } from "./twilio-rest.ts";
import { apiRouter, bearerAuth, openApi } from "./api.ts";
import { statusRouter } from "./status-page.ts";
import type { StatusHub, StatusHubOptions } from "./status-hub.ts";

export interface HttpAppOptions {
  apiToken?: string;
  /** METRICS_REQUIRE_TOKEN: /metrics and /openapi.json need the API's bearer token too. */
  metricsRequireToken?: boolean;
  /** Where unexpected errors (500) are logged. */
  log?: Logger;
  /** The status page's event streams (tests shorten or bound them). */
  status?: StatusHubOptions;
}

/** The app, and the status page's event streams (ended before the server closes: they never end by themselves). */
export type HttpApp = Express & { statusHub: StatusHub };

/** The methods any route here answers; anything else is a 405 before routing. */
const METHODS = new Set(["GET", "HEAD", "POST"]);
const ERROR_NAMES: Record<number, string> = { 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type" };

/** The host's HTTP server: health, readiness, metrics, the REST API, the status page, webhooks, the Twilio hang-up route. */
export function createHttpApp(host: Host, opts: HttpAppOptions = {}): HttpApp {
  const app = express();
  app.disable("x-powered-by");
  app.use(twilioRestRouter(host, opts.apiToken));
  app.use(host.webhooks.router());
  // Off by default: the port is loopback-only unless HTTP_HOST says otherwise.
  const exposure = opts.metricsRequireToken ? [bearerAuth(opts.apiToken)] : [];
  app.get("/openapi.json", ...exposure, (_req, res) => void res.json(openApi()));
  app.get("/metrics", ...exposure, async (_req, res) => {
    res.type(host.metrics.registry.contentType).send(await host.metrics.registry.metrics());
  });
  app.use(apiRouter(host, opts.apiToken));
  // Loopback, or the API's bearer token: the page shows who is calling.
  const status = statusRouter(host, opts.apiToken, opts.status);
  app.use(status);
  // The same drain as SIGTERM (the CLI then exits once the calls are over); a second request changes nothing.
  app.post("/admin/drain", bearerAuth(opts.apiToken), (_req, res) => {
    void host.drain.start("POST /admin/drain");
    res.status(202).json({ draining: host.drain.status() });
  });
  app.get("/health", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/ready", (_req, res) => {
    const s = host.status();
    // In a cluster, a host that cannot reach Redis or holds no instance lease claims no call: not ready.
    // A draining host takes no new call: the load balancer and Kubernetes stop sending it work.
    // Not the audio graph: it finishes just after the registration, and a call answered or placed
    // meanwhile waits for it in the page (its media from the first packet; `audio` says which).
    const ready = s.chrome && s.registered && s.cluster.ready && !s.draining;
    const reason = s.draining ? `draining since ${s.draining.since} (${s.draining.by}): taking no new call; ${s.draining.callsInProgress} call(s) in progress go on until they end or ${s.draining.hangUpAt}` : null;
    res.status(ready ? 200 : 503).json({ ready, reason, ...s });
  });
  app.use((_req, res) => {
    res.status(404).json({ error: "not_found", message: "no such route" });
  });
  // Malformed requests and anything thrown: a JSON 4xx/500, never a crash or an HTML page.
  app.use((err: Error & { status?: number; statusCode?: number }, req: Request, res: Response, _next: NextFunction) => {
    const given = err.status ?? err.statusCode;
    const status = given && given >= 400 && given < 500 ? given : 500;
    if (status === 500) opts.log?.error({ err: err.message, method: req.method, path: req.path }, "http: request failed");
    if (res.headersSent) return void res.destroy();
    res.status(status).json({ error: ERROR_NAMES[status] ?? (status === 500 ? "internal" : "bad_request"), message: status === 500 ? "internal error" : err.message });
  });
  return Object.assign(app, { statusHub: status.hub });
}

/**
 * Why a request is refused before express sees it (which answers a target it cannot parse with an
 * HTML page): a method nothing here answers (405), a target that is neither a path nor an absolute
 * URL, or a malformed %-escape (400).
 */
function refusal(req: IncomingMessage): { status: number; error: string; message: string } | undefined {
  if (!METHODS.has(req.method ?? "")) return { status: 405, error: "method_not_allowed", message: `${req.method} is not answered here` };
  const target = req.url ?? "";
  let path: string;
  try {
    path = target.startsWith("/") ? target.split("?")[0] : new URL(target).pathname;
    decodeURIComponent(path);
  } catch {
    return { status: 400, error: "bad_request", message: "the request target is not a path, or has a malformed %-escape" };
  }
  return undefined;
}

function refuse(res: ServerResponse, r: { status: number; error: string; message: string }): void {
  const body = JSON.stringify({ error: r.error, message: r.message });
  res.writeHead(r.status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body), ...(r.status === 405 && { allow: [...METHODS].join(", ") }) });
  res.end(body);
}

/** Listens with the bounds of bridge/http-bounds.ts (slow clients cannot hold sockets); tests may shorten them. */
export async function listenHttp(app: Express, host: string, port: number, log: Logger, timeouts?: Partial<HttpTimeouts>): Promise<Server> {
  const server = createBoundedServer((req, res) => {
    const r = refusal(req);
    if (r) refuse(res, r);
    else void app(req, res);
  }, timeouts);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(new Error(err.code === "EADDRINUSE" ? `HTTP_PORT ${port} on ${host} is already in use: set HTTP_PORT to a free port` : err.message)),
    );
    server.listen(port, host, () => resolve());
  });
  log.info({ url: `http://${host}:${(server.address() as { port: number }).port}` }, "http: listening");
  return server;
}

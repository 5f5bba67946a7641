import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import { bearerAuth } from "./api.ts";
import { StatusHub, type StatusHubOptions } from "./status-hub.ts";
import type { StatusSource } from "./status-view.ts";

/** No inline script or style, nothing from elsewhere: the page's own files and its event stream. */
export const STATUS_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;

/**
 * Whether a request comes from this machine. A request a proxy forwarded (X-Forwarded-For,
 * Forwarded, X-Real-IP) is not, even on loopback: behind a local reverse proxy every request
 * would otherwise look local.
 */
export function fromLoopback(remoteAddress: string | undefined, headers: Record<string, unknown>): boolean {
  if (headers["x-forwarded-for"] !== undefined || headers["forwarded"] !== undefined || headers["x-real-ip"] !== undefined) return false;
  return LOOPBACK.test(remoteAddress ?? "");
}

/** Loopback always; from elsewhere, Authorization: Bearer API_TOKEN (403 when no API_TOKEN is set). */
export function statusAccess(apiToken: string | undefined) {
  const bearer = bearerAuth(apiToken);
  return (req: Request, res: Response, next: NextFunction) => {
    if (fromLoopback(req.socket.remoteAddress, req.headers)) return next();
    if (!apiToken) return void res.status(403).json({ error: "forbidden", message: "the status page answers loopback only; set API_TOKEN and send Authorization: Bearer <API_TOKEN> to reach it from elsewhere" });
    bearer(req, res, next);
  };
}

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
  cacheControl: string;
}

function asset(name: string, type: string, cacheControl: string, rewrite?: (text: string) => string): Asset {
  const raw = readFileSync(new URL(`./assets/${name}`, import.meta.url), "utf8");
  const body = Buffer.from(rewrite ? rewrite(raw) : raw);
  return { body, type, cacheControl, etag: `"${version(body)}"` };
}

const version = (b: Buffer) => createHash("sha256").update(b).digest("base64url").slice(0, 16);

/**
 * GET /status (the page), its script and style sheet, and GET /status/events (server-sent
 * events: a snapshot, then updates while calls are live). The page names its files with their
 * hash, so they are cached for good and a new version is fetched at once.
 */
export function statusRouter(source: StatusSource, apiToken: string | undefined, opts: StatusHubOptions = {}): Router & { hub: StatusHub } {
  const js = asset("status.js", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable");
  const css = asset("status.css", "text/css; charset=utf-8", "public, max-age=31536000, immutable");
  const icon = asset("status.svg", "image/svg+xml", "public, max-age=31536000, immutable");
  const html = asset("status.html", "text/html; charset=utf-8", "no-cache", (t) =>
    t
      .replace("status.js", `status.js?v=${version(js.body)}`)
      .replace("status.css", `status.css?v=${version(css.body)}`)
      .replace("status.svg", `status.svg?v=${version(icon.body)}`),
  );
  const hub = new StatusHub(source, opts);
  const r = express.Router() as Router & { hub: StatusHub };
  r.hub = hub;
  r.use("/status", statusAccess(apiToken), (_req, res, next) => {
    res.setHeader("content-security-policy", STATUS_CSP);
    res.setHeader("x-content-type-options", "nosniff");
    res.setHeader("referrer-policy", "no-referrer");
    res.setHeader("x-frame-options", "DENY");
    next();
  });
  const serve = (a: Asset) => (req: Request, res: Response) => {
    res.setHeader("cache-control", a.cacheControl);
    res.setHeader("etag", a.etag);
    if (req.header("if-none-match") === a.etag) return void res.status(304).end();
    res.type(a.type).send(a.body);
  };
  r.get("/status", serve(html));
  r.get("/status/status.js", serve(js));
  r.get("/status/status.css", serve(css));
  r.get("/status/status.svg", serve(icon));
  r.get("/status/events", (req, res) => hub.add(req, res));
  return r;
}

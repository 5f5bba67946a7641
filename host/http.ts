import express, { type Express } from "express";
import { createServer, type Server } from "node:http";
import type { Logger } from "pino";
import type { Host } from "./host.ts";
import { twilioRestRouter } from "./twilio-rest.ts";
import { apiRouter, openApi } from "./api.ts";

/** The host's HTTP server: health and readiness now; webhooks and the call API mount here too. */
export function createHttpApp(host: Host, opts: { apiToken?: string } = {}): Express {
  const app = express();
  app.disable("x-powered-by");
  app.use(twilioRestRouter(host, opts.apiToken));
  app.use(host.webhooks.router());
  app.get("/openapi.json", (_req, res) => void res.json(openApi()));
  app.get("/metrics", async (_req, res) => {
    res.type(host.metrics.registry.contentType).send(await host.metrics.registry.metrics());
  });
  app.use(apiRouter(host, opts.apiToken));
  app.get("/health", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/ready", (_req, res) => {
    const s = host.status();
    res.status(s.chrome && s.registered ? 200 : 503).json({ ready: s.chrome && s.registered, ...s });
  });
  app.use((_req, res) => {
    res.status(404).json({ error: "not_found", message: "no such route" });
  });
  // Malformed bodies and anything thrown: a JSON 4xx/500, never a crash or an HTML page.
  app.use((err: Error & { status?: number; type?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    res.status(status).json({ error: status === 500 ? "internal" : "bad_request", message: status === 500 ? "internal error" : err.message });
  });
  return app;
}

export async function listenHttp(app: Express, host: string, port: number, log: Logger): Promise<Server> {
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(new Error(err.code === "EADDRINUSE" ? `HTTP_PORT ${port} on ${host} is already in use: set HTTP_PORT to a free port` : err.message)),
    );
    server.listen(port, host, () => resolve());
  });
  log.info({ url: `http://${host}:${(server.address() as { port: number }).port}` }, "http: listening");
  return server;
}

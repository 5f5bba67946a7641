import express, { type Express } from "express";
import { createServer, type Server } from "node:http";
import type { Logger } from "pino";
import type { Host } from "./host.ts";

/** The host's HTTP server: health and readiness now; webhooks and the call API mount here too. */
export function createHttpApp(host: Host): Express {
  const app = express();
  app.disable("x-powered-by");
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

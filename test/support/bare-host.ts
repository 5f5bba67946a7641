/**
 * A real Host that is built but never started: no RingCentral, no Chrome. Its HTTP server (API,
 * webhooks, Twilio route, metrics) and its call logic run as in production, so the surfaces that
 * need no phone are tested cheaply.
 */
import type { Server } from "node:http";
import type { HttpTimeouts } from "../../bridge/http-bounds.ts";
import { loadConfig } from "../../host/config.ts";
import { Host } from "../../host/host.ts";
import { createHttpApp, listenHttp } from "../../host/http.ts";
import { createLogger } from "../../host/log.ts";
import type { StatusHubOptions } from "../../host/status-hub.ts";

export const BARE_API_TOKEN = "bare-api-token-0123456789abcdef";

export async function startBareHost(env: Record<string, string> = {}, timeouts?: Partial<HttpTimeouts>, status?: StatusHubOptions) {
  const config = loadConfig({
    RINGCENTRAL_SERVER_URL: "http://127.0.0.1:9",
    RINGCENTRAL_CLIENT_ID: "bare-client",
    RINGCENTRAL_CLIENT_SECRET: "bare-secret",
    RINGCENTRAL_JWT_TOKEN: "a.b.c",
    PIPELINE_URL: "ws://127.0.0.1:9",
    API_TOKEN: BARE_API_TOKEN,
    SIP_INFO_CACHE: `/tmp/rc-voice-host-bare-${process.pid}.json`,
    ...env,
  });
  const log = createLogger((process.env.TEST_LOG_LEVEL as "info") ?? "silent");
  const host = new Host(config, log);
  const app = createHttpApp(host, { apiToken: config.apiToken, metricsRequireToken: config.http.metricsRequireToken, log, status });
  const server: Server = await listenHttp(app, "127.0.0.1", 0, log, timeouts);
  const port = (server.address() as { port: number }).port;
  return {
    host,
    config,
    server,
    app,
    port,
    url: `http://127.0.0.1:${port}`,
    /** Connections the server still holds open. */
    connections: () => new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n)))),
    async stop(): Promise<void> {
      await app.statusHub.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await host.stop();
    },
  };
}

export type BareHost = Awaited<ReturnType<typeof startBareHost>>;

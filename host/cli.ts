/**
 * `npm start`: the product against real RingCentral. Without credentials it says what to set,
 * or to try `npm run demo` on the offline twin.
 */
import { ConfigError, describeConfig, loadConfig, loadDotEnv } from "./config.ts";
import { reportConfigError } from "./config-cli.ts";
import { Host } from "./host.ts";
import { createHttpApp, listenHttp } from "./http.ts";
import { createLogger } from "./log.ts";
import { installShutdown } from "./shutdown.ts";

async function main(): Promise<number> {
  let config;
  try {
    loadDotEnv();
    config = loadConfig(process.env);
  } catch (err) {
    const code = reportConfigError(err);
    if (err instanceof ConfigError && err.problems.some((p) => p.startsWith("RINGCENTRAL_"))) {
      process.stderr.write("config: or try the product with no account at all: npm run demo\n");
    }
    return code;
  }
  const log = createLogger(config.logLevel);
  log.info({ config: describeConfig(config) }, "host: starting");
  const host = new Host(config, log);
  try {
    const app = createHttpApp(host, { apiToken: config.apiToken, metricsRequireToken: config.http.metricsRequireToken, log });
    const server = await listenHttp(app, config.http.host, config.http.port, log);
    // Signals drain (then exit 0), and the crash policy: an uncaught error is logged and the host shuts down cleanly (exit 70).
    const shutdown = installShutdown(log, {
      drain: (by) => host.drain.start(by),
      hurry: () => host.drain.hurry(),
      stop: async () => {
        await host.stop();
        // The status page's event streams would hold the server open: they get the end and close.
        await app.statusHub.close();
        server.close();
      },
    });
    // POST /admin/drain: the same end as SIGTERM.
    host.drain.onStart(() => shutdown.drained("POST /admin/drain"));
    await host.start();
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message.split("\n")[0]}\n`);
    await host.stop().catch(() => {});
    return 1;
  }
  return -1; // keeps serving until a signal
}

const code = await main();
if (code >= 0) process.exit(code);

import type { Logger } from "pino";

/**
 * SIGINT/SIGTERM: hang up, unregister, close Chrome, then exit. A second signal, or a shutdown
 * that hangs, exits at once: an operator must always be able to stop the process.
 */
export function installShutdown(log: Logger, stop: () => Promise<void>, graceMs = 10_000): void {
  let stopping = false;
  let firstAtMs = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    // One Ctrl-C under `npm start` arrives twice (from npm and from the terminal's process group).
    if (stopping && Date.now() - firstAtMs < 1000) return;
    if (stopping) {
      log.warn({ signal }, "host: second signal, exiting now");
      process.exit(130);
    }
    stopping = true;
    firstAtMs = Date.now();
    log.info({ signal }, "host: shutting down");
    const timer = setTimeout(() => {
      log.error({ graceMs }, "host: shutdown took too long, exiting");
      process.exit(1);
    }, graceMs);
    timer.unref();
    stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err: (err as Error).message }, "host: shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

import type { Logger } from "pino";

/** Exit code after a clean shutdown forced by an uncaught exception or unhandled rejection (EX_SOFTWARE). */
export const CRASH_EXIT_CODE = 70;

/**
 * How the process ends. SIGINT/SIGTERM: hang up, unregister, close Chrome, then exit 0. A second
 * signal, or a shutdown that hangs, exits at once: an operator must always be able to stop the
 * process.
 *
 * An uncaught exception or unhandled rejection is a bug whose damage is unknown (a call's cleanup
 * may have been skipped halfway, a slot never freed), so the host never goes on half alive: it
 * logs the error (fatal), shuts down the same clean way (calls hung up, SIP unregistered) and exits
 * CRASH_EXIT_CODE for its supervisor to restart it. Hostile input never gets this far: every
 * surface answers it with a 4xx or a close code.
 */
export function installShutdown(log: Logger, stop: () => Promise<void>, graceMs = 10_000): void {
  let stopping = false;
  let firstAtMs = 0;
  const shutDown = (exitCode: number) => {
    stopping = true;
    firstAtMs = Date.now();
    const timer = setTimeout(() => {
      log.error({ graceMs }, "host: shutdown took too long, exiting");
      process.exit(1);
    }, graceMs);
    timer.unref();
    stop().then(
      () => process.exit(exitCode),
      (err) => {
        log.error({ err: (err as Error).message }, "host: shutdown failed");
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    // One Ctrl-C under `npm start` arrives twice (from npm and from the terminal's process group).
    if (stopping && Date.now() - firstAtMs < 1000) return;
    if (stopping) {
      log.warn({ signal }, "host: second signal, exiting now");
      process.exit(130);
    }
    log.info({ signal }, "host: shutting down");
    shutDown(0);
  };
  const onFatal = (origin: "uncaughtException" | "unhandledRejection") => (reason: unknown) => {
    const err = reason instanceof Error ? reason : new Error(String(reason));
    // During a shutdown already under way (its grace timer still runs), one more error changes nothing.
    if (stopping) return void log.error({ err, origin }, "host: error while shutting down");
    log.fatal({ err, origin }, "host: bug, shutting down cleanly");
    shutDown(CRASH_EXIT_CODE);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("uncaughtException", onFatal("uncaughtException"));
  process.on("unhandledRejection", onFatal("unhandledRejection"));
}

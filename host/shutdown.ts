import type { Logger } from "pino";

/** Exit code after a clean shutdown forced by an uncaught exception or unhandled rejection (EX_SOFTWARE). */
export const CRASH_EXIT_CODE = 70;

/** Exit code of the third signal: the operator insists (128 + SIGINT, as a shell reports Ctrl-C). */
export const FORCED_EXIT_CODE = 130;

export interface ShutdownSteps {
  /** Starts the drain (host/drain.ts) if it is not under way; resolves once no call is left. */
  drain(by: string): Promise<void>;
  /** Hangs up every call in progress now (the drain then resolves). */
  hurry(): Promise<void>;
  /** Hangs up whatever is left, unregisters, finishes recordings, closes Chrome and the HTTP server. */
  stop(): Promise<void>;
}

export interface Shutdown {
  /** A drain started elsewhere (POST /admin/drain): the process exits 0 once it is over, as after SIGTERM. */
  drained(by: string): void;
}

/**
 * How the process ends.
 *
 * SIGTERM or SIGINT starts a drain: no new call, calls in progress go on until they end or
 * DRAIN_TIMEOUT_S, then the host unregisters, finishes recordings, closes Chrome and exits 0.
 * A second signal hangs up every call at once (then the same clean exit); a third exits 130 at
 * once: an operator must always be able to stop the process. The steps after the drain get
 * `graceMs`, else the process exits 1.
 *
 * An uncaught exception or unhandled rejection is a bug whose damage is unknown (a call's cleanup
 * may have been skipped halfway, a slot never freed), so the host never goes on half alive: it
 * logs the error (fatal), shuts down the clean way at once (calls hung up, SIP unregistered) and
 * exits CRASH_EXIT_CODE for its supervisor to restart it. Hostile input never gets this far: every
 * surface answers it with a 4xx or a close code.
 */
export function installShutdown(log: Logger, steps: ShutdownSteps, graceMs = 10_000): Shutdown {
  let signals = 0;
  let lastSignalAtMs = 0;
  let draining = false;
  let stopping = false;
  const stopAndExit = (exitCode: number) => {
    if (stopping) return;
    stopping = true;
    const timer = setTimeout(() => {
      log.error({ graceMs }, "host: shutdown took too long, exiting");
      process.exit(1);
    }, graceMs);
    timer.unref();
    steps.stop().then(
      () => process.exit(exitCode),
      (err) => {
        log.error({ err: (err as Error).message }, "host: shutdown failed");
        process.exit(1);
      },
    );
  };
  const drainThenExit = (by: string) => {
    if (draining) return;
    draining = true;
    steps.drain(by).then(
      () => stopAndExit(0),
      (err) => {
        log.error({ err: (err as Error).message }, "host: drain failed, stopping");
        stopAndExit(0);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    // One Ctrl-C under `npm start` arrives twice (from npm and from the terminal's process group).
    if (signals > 0 && Date.now() - lastSignalAtMs < 1000) return;
    signals++;
    lastSignalAtMs = Date.now();
    if (signals === 1 && !draining) {
      log.info({ signal }, "host: draining (a second signal hangs up every call, a third exits at once)");
      return drainThenExit(signal);
    }
    if (signals >= 3) {
      log.warn({ signal }, "host: signal again, exiting now");
      process.exit(FORCED_EXIT_CODE);
    }
    log.warn({ signal }, "host: second signal, hanging up every call now (a third exits at once)");
    drainThenExit(signal);
    void steps.hurry().catch((err) => log.error({ err: (err as Error).message }, "host: hanging up failed"));
  };
  const onFatal = (origin: "uncaughtException" | "unhandledRejection") => (reason: unknown) => {
    const err = reason instanceof Error ? reason : new Error(String(reason));
    // During a shutdown already under way (its grace timer still runs), one more error changes nothing.
    if (stopping) return void log.error({ err, origin }, "host: error while shutting down");
    log.fatal({ err, origin }, "host: bug, shutting down cleanly");
    stopAndExit(CRASH_EXIT_CODE);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("uncaughtException", onFatal("uncaughtException"));
  process.on("unhandledRejection", onFatal("unhandledRejection"));
  return {
    drained: (by) => {
      // The API's drain counts as the first signal: the next one hurries.
      if (signals === 0) signals = 1;
      drainThenExit(by);
    },
  };
}

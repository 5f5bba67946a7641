/**
 * `npm run twin`: the offline RingCentral twin as a process.
 *
 *   npm run twin -- [--http-port N] [--sip-port N] [--log-level LEVEL]
 *
 * Ports come from the flags, else TWIN_HTTP_PORT / TWIN_SIP_PORT, else 18080 / 18443 (0 picks a
 * free port). The backup outbound proxy listens on the SIP port + 1 (free too when the SIP port is 0).
 * Prints exactly one JSON line on stdout once it serves:
 *   {"restUrl","sipWssUrl","clientId","clientSecret","jwt","controlUrl"}
 * Logs (pino JSON) go to stderr. Serves until SIGINT/SIGTERM, then stops and exits 0.
 * A port already in use is one line on stderr and exit 1; bad arguments exit 2.
 * `--help` also lists the fault controls of the /twin control API.
 */
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import pino from "pino";
import { DEFAULT_HTTP_PORT, DEFAULT_SIP_PORT, startTwin, type Twin } from "./server.ts";

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
type Level = (typeof LEVELS)[number];

export interface CliOptions {
  httpPort: number;
  sipPort: number;
  logLevel: Level;
  help: boolean;
}

export class UsageError extends Error {}

export const USAGE = `usage: npm run twin -- [--http-port N] [--sip-port N] [--log-level ${LEVELS.join("|")}]
  --http-port N   REST + /twin control API port (env TWIN_HTTP_PORT, default ${DEFAULT_HTTP_PORT}; 0 = any free port)
  --sip-port N    SIP over WSS port (env TWIN_SIP_PORT, default ${DEFAULT_SIP_PORT}; 0 = any free port)
  --log-level L   pino level for the logs on stderr (env TWIN_LOG_LEVEL, default info)
Prints one JSON line {restUrl,sipWssUrl,clientId,clientSecret,jwt,controlUrl} on stdout, serves until SIGINT/SIGTERM.

Fault controls, JSON over HTTP at controlUrl (docs/twin.md, "Faults"); every fault is bounded by count and/or forMs:
  POST   /twin/faults/sip/drop                {"extension":"101"|"instanceId":ID|"connectionId":N|"all":true, "mode":"close"|"terminate", "code":1001}
  POST   /twin/faults/sip/refuse-connections  {"forMs":5000, "mode":"503"|"close"|"reset", "retryAfterS":5, "proxy":"primary"|"backup"}
  POST   /twin/faults/sip/reject-register     {"status":503, "count":2, "retryAfterS":5, "onlyAuthorized":false}
  POST   /twin/faults/sip/ignore-register     {"forMs":10000}
  POST   /twin/faults/rest                    {"method":"POST", "path":"/restapi/oauth/token", "status":503, "retryAfterS":5, "count":3, "delayMs":250}
  POST   /twin/calls/:id/media/stall          {"forMs":2000}   (also /media/resume, /media/kill)
  POST   /twin/calls/:id/media/link           {"lossRate":0.05,"delayMs":{"min":0,"max":40}}   (GET: the link and its counts)
  GET    /twin/faults, GET /twin/sip/connections, GET /twin/registrations
  DELETE /twin/faults                         clears every fault (DELETE a fault's own path clears just that one)
  e.g. curl -X POST -H 'content-type: application/json' -d '{"all":true,"mode":"terminate"}' http://127.0.0.1:${DEFAULT_HTTP_PORT}/twin/faults/sip/drop`;

function port(value: string, from: string): number {
  if (!/^\d{1,5}$/.test(value.trim()) || Number(value) > 65535) throw new UsageError(`${from} must be a port number 0-65535, not ${JSON.stringify(value)}`);
  return Number(value);
}

/** Flags win over the environment, which wins over the defaults. */
export function parseCliOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): CliOptions {
  let values: { "http-port"?: string; "sip-port"?: string; "log-level"?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        "http-port": { type: "string" },
        "sip-port": { type: "string" },
        "log-level": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const httpPort =
    values["http-port"] !== undefined ? port(values["http-port"], "--http-port") : env.TWIN_HTTP_PORT ? port(env.TWIN_HTTP_PORT, "TWIN_HTTP_PORT") : DEFAULT_HTTP_PORT;
  const sipPort =
    values["sip-port"] !== undefined ? port(values["sip-port"], "--sip-port") : env.TWIN_SIP_PORT ? port(env.TWIN_SIP_PORT, "TWIN_SIP_PORT") : DEFAULT_SIP_PORT;
  if (sipPort === 65535) throw new UsageError("--sip-port must leave room for its backup proxy on the next port (at most 65534)");
  if (httpPort !== 0 && (httpPort === sipPort || httpPort === sipPort + 1))
    throw new UsageError(`the HTTP port must differ from the SIP port and the one after it (its backup proxy): ${httpPort} vs ${sipPort}`);
  const level = values["log-level"] ?? (env.TWIN_LOG_LEVEL || "info");
  if (!(LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level must be one of ${LEVELS.join(", ")}, not ${JSON.stringify(level)}`);
  return { httpPort, sipPort, logLevel: level as Level, help: Boolean(values.help) };
}

function fail(line: string, code: number): never {
  process.stderr.write(`twin: ${line}\n`);
  process.exit(code);
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  let opts: CliOptions;
  try {
    opts = parseCliOptions(argv);
  } catch (err) {
    if (err instanceof UsageError) fail(`${err.message} (--help for usage)`, 2);
    throw err;
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const log = pino({ level: opts.logLevel, base: { name: "twin" } }, pino.destination({ fd: 2, sync: true }));

  let twin: Twin;
  try {
    twin = await startTwin({ httpPort: opts.httpPort, sipPort: opts.sipPort, sipBackupPort: opts.sipPort === 0 ? 0 : opts.sipPort + 1, log });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
    if (e.code === "EADDRINUSE" || e.code === "EACCES") {
      const which =
        e.port === opts.sipPort
          ? "SIP (--sip-port / TWIN_SIP_PORT)"
          : e.port === opts.sipPort + 1
            ? "the backup SIP proxy (--sip-port + 1)"
            : "HTTP (--http-port / TWIN_HTTP_PORT)";
      const why = e.code === "EADDRINUSE" ? "is already in use" : "is not allowed";
      fail(`port ${e.port ?? "?"} on ${e.address ?? "127.0.0.1"} for ${which} ${why}; choose another port`, 1);
    }
    fail(`could not start: ${e.message}`, 1);
  }

  process.stdout.write(
    `${JSON.stringify({
      restUrl: twin.restUrl,
      sipWssUrl: twin.sipWssUrl,
      clientId: twin.clientId,
      clientSecret: twin.clientSecret,
      jwt: twin.jwt,
      controlUrl: twin.controlUrl,
    })}\n`,
  );
  log.info({ restUrl: twin.restUrl, sipWssUrl: twin.sipWssUrl, controlUrl: twin.controlUrl }, "twin: serving");

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "twin: stopping");
    // Hung-up calls, closed sockets and listeners normally take well under a second.
    const guard = setTimeout(() => fail("did not stop within 5 s; exiting anyway", 1), 5000);
    guard.unref();
    twin.stop().then(
      () => {
        log.info("twin: stopped");
        process.exit(0);
      },
      (err: Error) => fail(`stop failed: ${err.message}`, 1),
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: Error) => fail(`unexpected error: ${err.stack ?? err.message}`, 1));
}

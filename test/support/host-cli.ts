import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Starts `npm start`'s entry (host/cli.ts) as its own process with exactly `env` on top of PATH,
 * HOME and a sipInfo cache of its own (`cacheName`, so parallel runs never share one).
 * `preload`: modules imported before the host (e.g. test/support/inject-fault.ts).
 */
export function spawnHostCli(env: Record<string, string>, cacheName: string, preload: string[] = []): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ["--import", "tsx", ...preload.flatMap((p) => ["--import", p]), "host/cli.ts"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", SIP_INFO_CACHE: `/tmp/${cacheName}-${process.pid}.json`, ...env },
  });
}

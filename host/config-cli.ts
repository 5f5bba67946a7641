import { ConfigError } from "./config.ts";

/**
 * Prints a configuration failure for a person at a terminal: one `config: ` line
 * per problem, never a stack. Returns the exit code: 2 for bad configuration
 * (so scripts can tell it from a crash), 1 for anything else.
 */
export function reportConfigError(err: unknown, write: (s: string) => void = (s) => process.stderr.write(s)): number {
  if (err instanceof ConfigError) {
    for (const problem of err.problems) write(`config: ${problem}\n`);
    return 2;
  }
  const message = err instanceof Error ? err.message : String(err);
  write(`config: ${message.split("\n")[0] || "unknown error"}\n`);
  return 1;
}

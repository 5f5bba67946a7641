import { ConfigError, loadConfig } from "../../host/config.ts";

/** The problems loadConfig reports for `env`; fails if it accepts it. */
export function problemsOf(env: NodeJS.ProcessEnv): readonly string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

/**
 * The offline twin for `docker compose --profile twin` (deploy/compose.yaml): `npm run twin`'s
 * twin, with the credentials taken from the environment (deploy/twin.env) so the hosts can be
 * configured before it starts. It listens on loopback only, as always; compose puts it in the
 * hosts' network namespace.
 */
import pino from "pino";
import { DEFAULT_HTTP_PORT, DEFAULT_SIP_PORT, startTwin } from "../twin/server.ts";

const env = (name: string) => process.env[name] || undefined;
const twin = await startTwin({
  httpPort: DEFAULT_HTTP_PORT,
  sipPort: DEFAULT_SIP_PORT,
  sipBackupPort: DEFAULT_SIP_PORT + 1,
  clientId: env("RINGCENTRAL_CLIENT_ID"),
  clientSecret: env("RINGCENTRAL_CLIENT_SECRET"),
  jwt: env("RINGCENTRAL_JWT_TOKEN"),
  log: pino({ level: "info", base: { name: "twin" } }),
});
process.stdout.write(`${JSON.stringify({ restUrl: twin.restUrl, sipWssUrl: twin.sipWssUrl, controlUrl: twin.controlUrl })}\n`);
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void twin.stop().then(() => process.exit(0)));

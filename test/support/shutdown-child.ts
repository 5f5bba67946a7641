/**
 * installShutdown with steps that only report themselves (one line on stdout each), for
 * test/drain.test.ts to send signals to: the drain never ends by itself, `hurry` ends it.
 */
import pino from "pino";
import { installShutdown } from "../../host/shutdown.ts";

const say = (step: string) => process.stdout.write(`${step}\n`);
let endDrain: () => void = () => {};
installShutdown(pino({ level: "silent" }), {
  drain: (by) => {
    say(`drain ${by}`);
    return new Promise<void>((resolve) => (endDrain = resolve));
  },
  hurry: async () => {
    say("hurry");
    if (process.env.HURRY_ENDS_DRAIN === "1") endDrain();
  },
  stop: async () => void say("stop"),
});
say("ready");
setInterval(() => {}, 60_000);

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import puppeteer, { type Browser } from "puppeteer";

export interface ChromeOptions {
  /** CHROME_PATH, else PUPPETEER_EXECUTABLE_PATH, else Debian's chromium, else Puppeteer's own. */
  executablePath?: string;
  headless: boolean;
  /** Accept the SIP server's self-signed certificate (twin and local tests only). */
  insecureTls: boolean;
  /** Extra flags, e.g. for debugging. */
  args?: string[];
  /** Chrome's DevTools on this port (Chrome binds it to 127.0.0.1 only): to watch the page. */
  debugPort?: number;
  /** Chrome's first tab opens this instead of about:blank: the page loads while Puppeteer connects. */
  startUrl?: string;
}

const SYSTEM_CHROMES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"];

export function resolveChromePath(configured?: string): string | undefined {
  const explicit = configured || process.env.CHROME_PATH || process.env.PUPPETEER_EXECUTABLE_PATH;
  if (explicit) return explicit;
  return SYSTEM_CHROMES.find((p) => existsSync(p));
}

/**
 * The flags that make WebRTC work headless, offline and as root:
 * loopback ICE candidates need both --allow-loopback-in-peer-connection and a media permission;
 * background throttling would stretch the audio threads' timers. Then flags that make Chrome
 * smaller, each kept for its measured effect (docs/ARCHITECTURE.md, "Chrome flags"). Puppeteer
 * merges every --disable-features/--enable-features given here into its own lists.
 */
export function chromeArgs(opts: Pick<ChromeOptions, "insecureTls" | "args" | "debugPort" | "startUrl">): string[] {
  return [
    ...(process.getuid?.() === 0 ? ["--no-sandbox"] : []),
    "--allow-loopback-in-peer-connection",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--disable-gpu",
    // No GPU process to spawn (there is no GPU work): launch → connected measured 830 ms against 1030 ms.
    "--in-process-gpu",
    // Fewer processes (bench, 2 cores, registered and idle): each service below runs as threads of
    // the browser process instead of a process of its own. The media path is unchanged (the page's
    // audio still leaves through the audio service, its sockets through the network service).
    // The audio service: −1 process, idle PSS −16 MB; CPU idle and per call within the noise.
    "--disable-features=AudioServiceOutOfProcess",
    // The network service: −1 process, idle PSS −15 MB; CPU idle and per call within the noise.
    "--enable-features=NetworkServiceInProcess2",
    // No spare renderer kept warm for a next navigation the page never makes: −1 process, PSS −8 MB.
    "--disable-features=SpareRendererForSitePerProcess",
    ...(opts.insecureTls ? ["--ignore-certificate-errors"] : []),
    ...(opts.debugPort !== undefined ? [`--remote-debugging-port=${opts.debugPort}`] : []),
    ...(opts.args ?? []),
    ...(opts.startUrl ? [opts.startUrl] : []),
  ];
}

export async function launchChrome(opts: ChromeOptions): Promise<Browser> {
  const executablePath = resolveChromePath(opts.executablePath);
  if (!executablePath) throw new Error("no Chrome found: install Chromium (Debian: apt-get install -y chromium) or set CHROME_PATH");
  const args = chromeArgs(opts);
  try {
    return await puppeteer.launch({
      executablePath,
      headless: opts.headless,
      acceptInsecureCerts: opts.insecureTls,
      args,
      // DevTools over a pipe, not a port: if the host dies hard (SIGKILL, OOM), the pipe closes and
      // Chrome exits with it, instead of living on as an orphan still registered to RingCentral.
      pipe: true,
      // Puppeteer's network monitoring turns every media WebSocket frame into a DevTools event
      // (≈ 800/s at 8 calls): measured 21 % of a core across Chrome and the host for nothing.
      networkEnabled: false,
      // The host hangs up and unregisters before Chrome goes: it handles signals itself.
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
      defaultViewport: null,
    });
  } catch (err) {
    // Puppeteer reports only its own side ("Target closed"); Chrome's reason is on its stderr.
    const said = await chromeStderr(executablePath, [...args, ...(opts.headless ? ["--headless"] : [])]);
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(said ? `Chrome failed to start (${message}); Chrome said: ${said}` : `Chrome failed to start: ${message}`, { cause: err });
  }
}

const STDERR_WAIT_MS = 10_000;
const STDERR_MAX_CHARS = 600;

/**
 * Starts Chrome once more on a blank page and returns the first lines of its stderr that say why
 * it stops (FATAL/ERROR lines, e.g. "No usable sandbox!"). Only on a failed launch.
 */
export function chromeStderr(executablePath: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    let out = "";
    const child = spawn(executablePath, [...args.filter((a) => a.startsWith("--") && !a.startsWith("--remote-debugging")), "--dump-dom", "about:blank"], { stdio: ["ignore", "ignore", "pipe"] });
    const done = () => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      const lines = out.split("\n").filter((l) => /FATAL|ERROR|sandbox/i.test(l));
      resolve(lines.join(" | ").slice(0, STDERR_MAX_CHARS));
    };
    const timer = setTimeout(done, STDERR_WAIT_MS);
    child.stderr.on("data", (d: Buffer) => {
      if (out.length < 8 * STDERR_MAX_CHARS) out += d.toString();
    });
    child.on("error", done);
    child.on("close", done);
  });
}

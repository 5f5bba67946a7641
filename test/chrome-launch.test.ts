import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { launchChrome } from "../host/chrome.ts";

const dir = mkdtempSync(join(tmpdir(), "rcvh-chrome-launch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("launching Chrome", () => {
  it("a Chrome that dies at start shows its own reason, not only Puppeteer's", async () => {
    // What Chrome prints where user namespaces are refused (a container's default seccomp profile).
    const fake = join(dir, "chrome-no-sandbox");
    writeFileSync(
      fake,
      "#!/bin/sh\necho '[1:1:1204/120000.000000:FATAL:content/browser/zygote_host/zygote_host_impl_linux.cc:132] No usable sandbox! If you are running on Ubuntu 23.10+ ...' >&2\nexit 1\n",
    );
    chmodSync(fake, 0o755);
    const err = await launchChrome({ executablePath: fake, headless: true, insecureTls: false }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err?.message).toMatch(/^Chrome failed to start \(.+\); Chrome said: .*No usable sandbox!/);
  });

  it("CHROME_DEBUG_PORT: DevTools answer on 127.0.0.1 and list the page", async () => {
    const port = await freePort();
    const browser = await launchChrome({ headless: true, insecureTls: false, debugPort: port });
    try {
      const page = await browser.newPage();
      await page.goto("data:text/html,<title>watched</title>");
      const version = (await (await fetch(`http://127.0.0.1:${port}/json/version`)).json()) as { Browser: string };
      expect(version.Browser).toMatch(/Chrome/);
      const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ title: string; type: string }>;
      expect(targets).toContainEqual(expect.objectContaining({ type: "page", title: "watched" }));
    } finally {
      await browser.close();
    }
  });
});

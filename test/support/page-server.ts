import { build } from "esbuild";
import { createServer, type Server } from "node:http";

/** Serves one esbuild-bundled script in a blank page on loopback (a secure context for worklets). */
export async function servePage(entry: string): Promise<{ url: string; close(): Promise<void> }> {
  const out = await build({ entryPoints: [entry], bundle: true, write: false, format: "iife", target: "chrome120", charset: "utf8" });
  const js = out.outputFiles[0].text;
  const server: Server = createServer((req, res) => {
    if (req.url === "/page.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" });
      res.end(js);
      return;
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end('<!doctype html><meta charset="utf-8"><title>phone</title><script src="/page.js"></script>');
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/**
 * The load balancer in front of a cluster's hosts, for webhook mode: WEBHOOK_PUBLIC_URL is one
 * shared address, and each request goes to the next host in turn, skipping hosts that do not
 * answer (a SIGKILLed one), as a load balancer's health check would.
 */
import { createServer, type IncomingMessage } from "node:http";

export async function startWebhookBalancer(backends: () => string[]) {
  let next = 0;
  const served: Record<string, number> = {};
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const list = backends();
      for (let i = 0; i < list.length; i++) {
        const base = list[(next + i) % list.length];
        try {
          const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !["host", "content-length", "connection"].includes(k)) as Array<[string, string]>);
          const r = await fetch(`${base}${req.url}`, { method: req.method, headers, body: body.length ? new Uint8Array(body) : undefined, signal: AbortSignal.timeout(2000) });
          next = (next + i + 1) % list.length;
          served[base] = (served[base] ?? 0) + 1;
          const out = Buffer.from(await r.arrayBuffer());
          const pass = ["content-type", "validation-token"].flatMap((h) => (r.headers.get(h) ? [[h, r.headers.get(h)!] as [string, string]] : []));
          res.writeHead(r.status, Object.fromEntries(pass)).end(out);
          return;
        } catch {
          // not answering: the next one
        }
      }
      res.writeHead(502).end();
    })();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    served,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

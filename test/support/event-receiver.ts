/** A real HTTP receiver for call events on loopback: answers each POST as `respond` says, keeps every delivery. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

export interface Delivery {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  /** What the receiver answered. */
  status: number;
  /** Whether the signature verified with the library's verify (the answer was 2xx only if so). */
  verified: boolean;
}

export interface EventReceiver {
  url: string;
  /** Every POST received, in order. */
  deliveries: Delivery[];
  /** The accepted (2xx) ones, parsed. */
  accepted(): Array<{ id: string; type: string; timestamp: string; data: Record<string, any> }>;
  /** Changes how the next POSTs are answered (n: the POST's number from 1). */
  respondWith(respond: (n: number) => number): void;
  close(): Promise<void>;
}

export function eventSecret(): string {
  return `whsec_${Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff)).toString("base64")}`;
}

export async function startEventReceiver(secret: string, respond: (n: number) => number = () => 204): Promise<EventReceiver> {
  const verifier = new Webhook(secret);
  const deliveries: Delivery[] = [];
  let answer = respond;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const h = (name: string) => String(req.headers[name] ?? "");
      let verified = false;
      try {
        verifier.verify(body, { "webhook-id": h("webhook-id"), "webhook-timestamp": h("webhook-timestamp"), "webhook-signature": h("webhook-signature") });
        verified = true;
      } catch {
        verified = false;
      }
      const wanted = answer(deliveries.length + 1);
      const status = verified ? wanted : 401;
      deliveries.push({ id: h("webhook-id"), timestamp: h("webhook-timestamp"), signature: h("webhook-signature"), body, status, verified });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/events`,
    deliveries,
    accepted: () => deliveries.filter((d) => d.status >= 200 && d.status < 300).map((d) => ({ id: d.id, ...JSON.parse(d.body) })),
    respondWith: (r) => void (answer = r),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

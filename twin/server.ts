import express from "express";
import { createServer, type Server } from "node:http";
import pino, { type Logger } from "pino";
import { createTwinAccount, type ExtensionSpec, type TwinAccount } from "./account.ts";
import type { TwinContext } from "./context.ts";
import { controlRouter } from "./control.ts";
import { createRestDeps, restRouter } from "./rest/index.ts";
import { Switchboard } from "./switchboard.ts";
import { Telephony } from "./telephony.ts";
import { startSipTransport, type SipConnection, type SipProxyName } from "./sip/transport.ts";
import type { SipMessage } from "./sip/message.ts";
import { SipFaults } from "./faults/sip-faults.ts";
import type { RestFaults } from "./faults/rest-faults.ts";

export interface TwinOptions {
  /** REST + control API port; 0 picks a free one. */
  httpPort?: number;
  /** SIP over WSS port; 0 picks a free one. */
  sipPort?: number;
  /** The backup outbound proxy's SIP port (sipInfo.outboundProxyBackup); 0 picks a free one. */
  sipBackupPort?: number;
  /** What the registrar grants (RingCentral grants under a minute). */
  registerExpiresS?: number;
  /** How long an answered call outlives its page's SIP socket, waiting for the dialog on a new one (default 30 s). */
  dialogGraceMs?: number;
  clientId?: string;
  clientSecret?: string;
  /** Extension 101's JWT. */
  jwt?: string;
  /** Extensions besides 101 (e.g. `[{number: "102"}]`), each with its own JWT, SIP credentials, device and phone number. */
  extensions?: ExtensionSpec[];
  log?: Logger;
}

export interface Twin {
  restUrl: string;
  sipWssUrl: string;
  controlUrl: string;
  clientId: string;
  clientSecret: string;
  jwt: string;
  account: TwinAccount;
  board: Switchboard;
  telephony: Telephony;
  /** The injected faults (also under /twin/faults). */
  faults: { sip: SipFaults; rest: RestFaults };
  stop(): Promise<void>;
}

/** The twin binds loopback only: it must never be reachable from, or send to, another host. */
const HOST = "127.0.0.1";

export const DEFAULT_HTTP_PORT = 18080;
export const DEFAULT_SIP_PORT = 18443;

export async function startTwin(opts: TwinOptions = {}): Promise<Twin> {
  const log = opts.log ?? pino({ level: "silent" });
  const account = createTwinAccount({ clientId: opts.clientId, clientSecret: opts.clientSecret, jwt: opts.jwt }, opts.extensions);
  const telephony = new Telephony();
  const app = express();
  app.disable("x-powered-by");
  const http: Server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(opts.httpPort ?? 0, HOST, () => resolve());
  });
  const httpPort = (http.address() as { port: number }).port;

  // The context needs the SIP port before the board exists; the transport calls back into the board.
  let board: Switchboard | undefined;
  const sipFaults = new SipFaults();
  let connectionIds = 0;
  const handlers = {
    onMessage: (c: SipConnection, m: SipMessage, raw: string) => board?.onMessage(c, m, raw),
    onClose: (c: SipConnection) => board?.onClose(c),
    onOutgoing: (c: SipConnection, m: SipMessage, raw: string) => board?.onOutgoing(c, m, raw),
    admit: (proxy: SipProxyName) => sipFaults.admit(proxy),
    nextConnectionId: () => ++connectionIds,
  };
  const sip = await startSipTransport("primary", opts.sipPort ?? 0, HOST, handlers, log).catch(async (err) => {
    await new Promise((r) => http.close(r));
    throw err;
  });
  // Like RingCentral's, the backup proxy is another address reaching the same registrar and calls.
  const sipBackup = await startSipTransport("backup", opts.sipBackupPort ?? 0, HOST, handlers, log).catch(async (err) => {
    await sip.close();
    await new Promise((r) => http.close(r));
    throw err;
  });
  const ctx: TwinContext = {
    account,
    telephony,
    restUrl: `http://${HOST}:${httpPort}`,
    sipWssUrl: `wss://${HOST}:${sip.port}`,
    outboundProxy: `${HOST}:${sip.port}`,
    outboundProxyBackup: `${HOST}:${sipBackup.port}`,
    log,
  };
  board = new Switchboard(ctx, opts.registerExpiresS ?? 60, { sipFaults, dialogGraceMs: opts.dialogGraceMs });
  const rest = createRestDeps(ctx);
  app.use(restRouter(ctx, rest));
  const faults = { board, account, sip: sipFaults, rest: rest.faults, connections: () => [...sip.connections(), ...sipBackup.connections()].sort((a, b) => a.id - b.id) };
  app.use("/twin", controlRouter(board, () => rest.webhooks.list(), faults));

  return {
    restUrl: ctx.restUrl,
    sipWssUrl: ctx.sipWssUrl,
    controlUrl: `${ctx.restUrl}/twin`,
    clientId: account.clientId,
    clientSecret: account.clientSecret,
    jwt: account.jwt,
    account,
    board,
    telephony,
    faults: { sip: sipFaults, rest: rest.faults },
    async stop() {
      await board!.stop();
      rest.stop();
      await Promise.all([sip.close(), sipBackup.close()]);
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    },
  };
}

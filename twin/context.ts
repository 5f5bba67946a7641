import type { Logger } from "pino";
import type { TwinAccount } from "./account.ts";
import type { Telephony } from "./telephony.ts";

/** What every part of the twin shares: who the account is, the telephony model, where things listen. */
export interface TwinContext {
  account: TwinAccount;
  telephony: Telephony;
  /** http://127.0.0.1:PORT: REST and the /twin control API. */
  restUrl: string;
  /** wss://127.0.0.1:PORT: SIP over WebSocket. */
  sipWssUrl: string;
  /** "127.0.0.1:PORT": what sipInfo.outboundProxy carries. */
  outboundProxy: string;
  /** "127.0.0.1:PORT": sipInfo.outboundProxyBackup, a second listener for the same switch. */
  outboundProxyBackup: string;
  log: Logger;
}

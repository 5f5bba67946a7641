/**
 * Helpers for forking tests: raw SIP clients standing in for several hosts on one extension,
 * each catching the INVITE the twin sends it and answering, refusing or being CANCELled.
 */
import { randomBytes } from "node:crypto";
import { header, type SipMessage } from "../../twin/sip/message.ts";
import type { RawSipClient, SipInfo } from "./raw-sip.ts";

export interface LegJson {
  sipCallId: string;
  connectionId: number;
  instanceId: string;
  extensionNumber: string;
  autoAnswer: boolean;
  outcome: string;
  status: number | null;
}

export interface CallJson {
  id: string;
  state: string;
  endReason: string | null;
  telephonySessionId: string;
  sipCallIds: string[];
  sip: { connectionId: number | null };
  legs: LegJson[];
}

export const isInvite = (m: SipMessage) => m.startLine.startsWith("INVITE ");
export const callIdOf = (m: SipMessage) => header(m, "Call-ID")!;
/** A request of the given method in the dialog of `invite`. */
export const inDialog = (method: string, invite: SipMessage) => (m: SipMessage) => m.startLine.startsWith(`${method} `) && callIdOf(m) === callIdOf(invite);

/** A host on the extension: its SIP client, its instance and the INVITE it is ringing with. */
export interface Host {
  client: RawSipClient;
  instanceId: string;
  /** The next INVITE this host receives. */
  invite(timeoutMs?: number): Promise<SipMessage>;
  /** Answers a provisional or final response to `invite` with this host's To tag. */
  reply(invite: SipMessage, status: number, reason: string): void;
  /** Waits for the twin's CANCEL of `invite`, answers it 200 and, like an RFC 3261 UAS, 487 unless `webPhoneStyle`. */
  cancelled(invite: SipMessage, webPhoneStyle?: boolean): Promise<SipMessage>;
}

export async function registerHosts(newClient: () => Promise<RawSipClient>, info: SipInfo, instanceIds: string[]): Promise<Host[]> {
  return Promise.all(
    instanceIds.map(async (instanceId) => {
      const client = await newClient();
      const res = await client.register(info, { instanceId });
      if (!res.startLine.startsWith("SIP/2.0 200 ")) throw new Error(`${instanceId} did not register: ${res.startLine}`);
      const tag = randomBytes(4).toString("hex");
      const host: Host = {
        client,
        instanceId,
        invite: (timeoutMs = 5000) => client.next(isInvite, timeoutMs),
        reply: (invite, status, reason) => client.reply(invite, status, reason, [], "", tag),
        async cancelled(invite, webPhoneStyle = false) {
          const cancel = await client.next(inDialog("CANCEL", invite));
          client.reply(cancel, 200, "OK");
          if (!webPhoneStyle) host.reply(invite, 487, "Request Terminated");
          return cancel;
        },
      };
      return host;
    }),
  );
}

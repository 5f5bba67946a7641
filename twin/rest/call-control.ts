import express, { type Router } from "express";
import { z } from "zod";
import type { TwinContext } from "../context.ts";
import type { PartyStatusCode, TelephonyParty, TelephonySession } from "../telephony.ts";
import { ApiError, rcErrors } from "./errors.ts";
import { resolveAccountId } from "./ids.ts";
import { parseBody } from "./validate.ts";

const answerBody = z.object({ deviceId: z.string().min(1) });

/** A party can be answered only while it rings. */
const RINGING: ReadonlySet<PartyStatusCode> = new Set(["Setup", "Proceeding"]);

/** RingCentral's CallParty: the telephony party without the event-only fields, plus `owner`. */
export function callParty(ctx: TwinContext, party: TelephonyParty, status: TelephonyParty["status"] = party.status) {
  return {
    id: party.id,
    status: { ...status },
    muted: party.muted,
    standAlone: party.standAlone,
    park: { ...party.park },
    from: { ...party.from },
    to: { ...party.to },
    direction: party.direction,
    ...(party.extensionId ? { owner: { accountId: party.accountId ?? ctx.account.accountId, extensionId: party.extensionId } } : {}),
  };
}

/** RingCentral's CallSessionObject: `id` is the telephonySessionId. */
export function callSession(ctx: TwinContext, session: TelephonySession) {
  return { id: session.telephonySessionId, origin: { ...session.origin }, parties: session.parties.map((p) => callParty(ctx, p)) };
}

/**
 * Call Control: read a session or party, and answer a ringing party on a device. Answering
 * hands the work to the SIP side (`telephony.answerOnDevice`: CANCEL the ring, auto-answer
 * INVITE); the party turns Answered when the device really answers, but, as RingCentral does,
 * the response already shows the party as it will be.
 */
export function callControlRouter(ctx: TwinContext): Router {
  const router = express.Router();
  const log = ctx.log.child({ component: "call-control" });
  const base = "/v1.0/account/:accountId/telephony/sessions/:sessionId";

  const findSession = (accountId: string, sessionId: string): TelephonySession => {
    resolveAccountId(ctx, accountId);
    const session = ctx.telephony.get(sessionId);
    if (!session) throw rcErrors.notFound("telephonySessionId", sessionId);
    return session;
  };
  const findParty = (session: TelephonySession, partyId: string): TelephonyParty => {
    const party = session.parties.find((p) => p.id === partyId);
    if (!party) throw rcErrors.notFound("partyId", partyId);
    return party;
  };

  router.get(base, (req, res) => {
    res.json(callSession(ctx, findSession(req.params.accountId, req.params.sessionId)));
  });

  router.get(`${base}/parties/:partyId`, (req, res) => {
    const session = findSession(req.params.accountId, req.params.sessionId);
    res.json(callParty(ctx, findParty(session, req.params.partyId)));
  });

  router.post(`${base}/parties/:partyId/answer`, async (req, res) => {
    const session = findSession(req.params.accountId, req.params.sessionId);
    const party = findParty(session, req.params.partyId);
    const { deviceId } = parseBody(answerBody, req.body);
    // The device must be the party's own extension's WebPhone.
    const owner = ctx.account.extensions.find((e) => e.extensionId === party.extensionId);
    if (deviceId !== owner?.deviceId) throw rcErrors.notFound("deviceId", deviceId);
    if (party.direction !== "Inbound" || !RINGING.has(party.status.code)) {
      throw new ApiError(409, "TAS-106", `Operation is not allowed: party [${party.id}] is ${party.direction} in status [${party.status.code}], not ringing`, {
        parameterName: "partyId",
        parameterValue: party.id,
      });
    }
    const answerOnDevice = ctx.telephony.answerOnDevice;
    if (!answerOnDevice) throw new ApiError(503, "CMN-201", "Service Temporary Unavailable: no SIP side is attached to the twin to answer on a device");
    log.info({ telephonySessionId: session.telephonySessionId, partyId: party.id, deviceId }, "answer on device");
    await answerOnDevice(session, party, deviceId);
    res.json(callParty(ctx, party, { code: "Answered", rcc: party.status.rcc }));
  });

  return router;
}

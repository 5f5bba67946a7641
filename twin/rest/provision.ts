import express, { type Router } from "express";
import { z } from "zod";
import type { TwinContext } from "../context.ts";
import { ApiError } from "./errors.ts";
import { extensionPath, ownerOf, resourceUri } from "./ids.ts";
import { parseBody } from "./validate.ts";

/** CreateSipRegistrationRequest (docs/WIRE.md §4.2); unknown fields are ignored as RingCentral does. */
const provisionRequest = z.object({
  sipInfo: z.array(z.object({ transport: z.enum(["UDP", "TCP", "TLS", "WSS"]) })).optional(),
  device: z
    .object({ id: z.string().optional(), computerName: z.string().optional(), serial: z.string().optional(), appExternalId: z.string().optional() })
    .optional(),
  softPhoneLineReassignment: z.string().optional(),
});

/** `POST /v1.0/client-info/sip-provision`: the SIP credentials and proxy the web phone registers with. */
export function provisionRouter(ctx: TwinContext): Router {
  const router = express.Router();
  const log = ctx.log.child({ component: "sip-provision" });

  router.post("/v1.0/client-info/sip-provision", (req, res) => {
    const body = parseBody(provisionRequest, req.body);
    const transports = body.sipInfo?.map((s) => s.transport) ?? ["WSS"];
    // The twin only speaks SIP over WSS; handing out a UDP/TLS proxy would fail much later and less clearly.
    const unsupported = transports.find((t) => t !== "WSS");
    if (unsupported) {
      throw new ApiError(400, "CMN-101", `Parameter [sipInfo.transport] value is invalid: the twin serves only WSS, not ${unsupported}`, {
        parameterName: "sipInfo.transport",
        parameterValue: unsupported,
      });
    }
    // The logged-in user's own credentials and WebPhone device.
    const ext = ownerOf(ctx, res);
    const sipInfo = {
      transport: "WSS",
      username: ext.sip.username,
      password: ext.sip.password,
      authorizationTypes: ["SipDigest"],
      authorizationId: ext.sip.authorizationId,
      domain: ext.sip.domain,
      outboundProxy: ctx.outboundProxy,
      outboundProxyBackup: ctx.outboundProxyBackup,
      switchBackInterval: 1800,
      // Empty: the twin is offline, and a STUN server would only delay ICE gathering.
      stunServers: [] as string[],
    };
    log.info({ deviceId: ext.deviceId, outboundProxy: ctx.outboundProxy }, "sip-provision");
    res.json({
      device: {
        uri: resourceUri(ctx, `${extensionPath(ctx, ext)}/device/${ext.deviceId}`),
        id: ext.deviceId,
        type: "WebPhone",
        name: "WebPhone",
        status: "Online",
        computerName: body.device?.computerName ?? "twin",
        extension: {
          uri: resourceUri(ctx, extensionPath(ctx, ext)),
          id: Number(ext.extensionId),
          extensionNumber: ext.extensionNumber,
        },
        linePooling: "None",
      },
      sipInfo: [sipInfo],
      sipInfoPstn: [],
      sipFlags: { voipFeatureEnabled: true, voipCountryBlocked: false, outboundCallsEnabled: true, dscpEnabled: false },
      sipErrorCodes: ["408", "502", "503", "504"],
      pollingInterval: 86400,
    });
  });

  return router;
}

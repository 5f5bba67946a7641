import express, { type Router } from "express";
import type { TwinContext } from "../context.ts";
import { accountPath, extensionPath, ownerOf, resolveAccountId, resolveExtension, resourceUri } from "./ids.ts";

/**
 * `GET /v1.0/account/{a}/extension/{e}` and `.../phone-number`, shaped like RingCentral's
 * GetExtensionInfoResponse and GetExtensionPhoneNumbersResponse (extension and number ids are
 * JSON numbers there, account ids strings).
 */
export function extensionRouter(ctx: TwinContext): Router {
  const router = express.Router();

  router.get("/v1.0/account/:accountId/extension/:extensionId", (req, res) => {
    resolveAccountId(ctx, req.params.accountId);
    const ext = resolveExtension(ctx, req.params.extensionId, ownerOf(ctx, res));
    const { account } = ctx;
    const [firstName, ...rest] = ext.name.split(" ");
    res.json({
      uri: resourceUri(ctx, extensionPath(ctx, ext)),
      id: Number(ext.extensionId),
      extensionNumber: ext.extensionNumber,
      contact: {
        firstName,
        lastName: rest.join(" "),
        email: `agent${ext.extensionNumber}@twin.invalid`,
        businessPhone: ext.phoneNumber,
        emailAsLoginName: true,
        pronouncedName: { type: "Default" },
      },
      name: ext.name,
      type: "User",
      status: "Enabled",
      permissions: { admin: { enabled: false }, internationalCalling: { enabled: false } },
      profileImage: { uri: resourceUri(ctx, `${extensionPath(ctx, ext)}/profile-image`) },
      account: { uri: resourceUri(ctx, accountPath(ctx)), id: account.accountId },
      regionalSettings: {
        homeCountry: { id: "1", name: "United States", isoCode: "US" },
        timezone: { id: "58", name: "US/Pacific", description: "Pacific Time (US & Canada)", bias: "-480" },
        language: { id: "1033", name: "English (United States)", localeCode: "en-US" },
        formattingLocale: { id: "1033", name: "English (United States)", localeCode: "en-US" },
        timeFormat: "12h",
      },
      setupWizardState: "Completed",
      hidden: false,
    });
  });

  router.get("/v1.0/account/:accountId/extension/:extensionId/phone-number", (req, res) => {
    resolveAccountId(ctx, req.params.accountId);
    const ext = resolveExtension(ctx, req.params.extensionId, ownerOf(ctx, res));
    const listUri = resourceUri(ctx, `${extensionPath(ctx, ext)}/phone-number?page=1&perPage=100`);
    res.json({
      uri: listUri,
      records: [
        {
          id: Number(`1${ext.extensionId}`),
          phoneNumber: ext.phoneNumber,
          type: "VoiceFax",
          usageType: "DirectNumber",
          features: ["CallerId", "SmsSender", "MmsSender", "InternationalSmsSender", "Voice"],
          paymentType: "Local",
          status: "Normal",
          primary: true,
          location: "San Mateo, CA",
          country: { id: "1", uri: resourceUri(ctx, "/restapi/v1.0/dictionary/country/1"), name: "United States" },
        },
      ],
      paging: { page: 1, totalPages: 1, perPage: 100, totalElements: 1, pageStart: 0, pageEnd: 0 },
      navigation: { firstPage: { uri: listUri }, lastPage: { uri: listUri } },
    });
  });

  return router;
}

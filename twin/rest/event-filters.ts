import type { TwinExtension } from "../account.ts";
import type { TwinContext } from "../context.ts";
import { ApiError } from "./errors.ts";

/**
 * The event filters the twin can serve: telephony/sessions at extension or account level.
 * RingCentral answers with filters whose `~` are expanded to real ids, and uses that expanded
 * form as the `event` of each delivery.
 */
export interface EventFilter {
  /** The filter as RingCentral echoes it, `~` expanded. */
  expanded: string;
  level: "extension" | "account";
  /** The extension an extension-level filter is about: only its parties' events match. */
  extensionId?: string;
}

const EXTENSION_SESSIONS = /^\/restapi\/v1\.0\/account\/([^/?#]+)\/extension\/([^/?#]+)\/telephony\/sessions$/;
const ACCOUNT_SESSIONS = /^\/restapi\/v1\.0\/account\/([^/?#]+)\/telephony\/sessions$/;

/** Codes under SUB- are RingCentral's subscription family; the exact number for a bad filter is a guess. */
export const invalidFilter = (filter: string, why: string) =>
  new ApiError(400, "SUB-500", `Invalid event filter [${filter}]: ${why}`, { parameterName: "eventFilters", parameterValue: filter });

/** `~` in an extension filter is the subscriber's own extension (the token's owner). */
export function parseEventFilter(ctx: TwinContext, filter: string, owner: TwinExtension = ctx.account): EventFilter {
  const { accountId } = ctx.account;
  const sameAccount = (id: string) => id === "~" || id === accountId;
  const ext = EXTENSION_SESSIONS.exec(filter);
  if (ext) {
    if (!sameAccount(ext[1])) throw invalidFilter(filter, `the twin has only account ${accountId}`);
    const target = ext[2] === "~" ? owner : ctx.account.extensions.find((e) => e.extensionId === ext[2]);
    if (!target) throw invalidFilter(filter, `the twin has only extensions ${ctx.account.extensions.map((e) => e.extensionId).join(", ")}`);
    const extensionId = target.extensionId;
    return { expanded: `/restapi/v1.0/account/${accountId}/extension/${extensionId}/telephony/sessions`, level: "extension", extensionId };
  }
  const acc = ACCOUNT_SESSIONS.exec(filter);
  if (acc) {
    if (!sameAccount(acc[1])) throw invalidFilter(filter, `the twin has only account ${accountId}`);
    return { expanded: `/restapi/v1.0/account/${accountId}/telephony/sessions`, level: "account" };
  }
  throw invalidFilter(
    filter,
    "the twin supports only /restapi/v1.0/account/~/extension/~/telephony/sessions and /restapi/v1.0/account/~/telephony/sessions (no query parameters)",
  );
}

/** Parses and de-duplicates a filter list; throws on the first unsupported filter. */
export function parseEventFilters(ctx: TwinContext, filters: string[], owner?: TwinExtension): EventFilter[] {
  const seen = new Map<string, EventFilter>();
  for (const f of filters) {
    const parsed = parseEventFilter(ctx, f.trim(), owner);
    seen.set(parsed.expanded, parsed);
  }
  return [...seen.values()];
}

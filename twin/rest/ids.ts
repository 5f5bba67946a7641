import type { TwinContext } from "../context.ts";
import { rcErrors } from "./errors.ts";

/** `~` means "the caller's own"; the twin has one account and one extension, so only those ids resolve. */
export function resolveAccountId(ctx: TwinContext, id: string): string {
  if (id === "~" || id === ctx.account.accountId) return ctx.account.accountId;
  throw rcErrors.notFound("accountId", id);
}

export function resolveExtensionId(ctx: TwinContext, id: string): string {
  if (id === "~" || id === ctx.account.extensionId) return ctx.account.extensionId;
  throw rcErrors.notFound("extensionId", id);
}

/** Absolute resource URIs, as RingCentral puts in `uri` fields; read at request time since the port is known late. */
export function resourceUri(ctx: TwinContext, path: string): string {
  return `${ctx.restUrl.replace(/\/+$/, "")}${path}`;
}

export function accountPath(ctx: TwinContext): string {
  return `/restapi/v1.0/account/${ctx.account.accountId}`;
}

export function extensionPath(ctx: TwinContext): string {
  return `${accountPath(ctx)}/extension/${ctx.account.extensionId}`;
}

import type { Response } from "express";
import type { TwinExtension } from "../account.ts";
import type { TwinContext } from "../context.ts";
import { rcErrors } from "./errors.ts";
import type { TokenGrant } from "./tokens.ts";

/** `~` means "the caller's own"; the twin has one account, so only its id resolves. */
export function resolveAccountId(ctx: TwinContext, id: string): string {
  if (id === "~" || id === ctx.account.accountId) return ctx.account.accountId;
  throw rcErrors.notFound("accountId", id);
}

/** The extension whose user logged in (the token's owner); the default extension without a token. */
export function ownerOf(ctx: TwinContext, res: Response): TwinExtension {
  const grant = res.locals.grant as TokenGrant | undefined;
  return ctx.account.extensions.find((e) => e.extensionId === grant?.ownerId) ?? ctx.account;
}

/** `~` is the token's own extension; an id names any extension of the account. */
export function resolveExtension(ctx: TwinContext, id: string, owner: TwinExtension): TwinExtension {
  if (id === "~") return owner;
  const ext = ctx.account.extensions.find((e) => e.extensionId === id);
  if (!ext) throw rcErrors.notFound("extensionId", id);
  return ext;
}

/** Absolute resource URIs, as RingCentral puts in `uri` fields; read at request time since the port is known late. */
export function resourceUri(ctx: TwinContext, path: string): string {
  return `${ctx.restUrl.replace(/\/+$/, "")}${path}`;
}

export function accountPath(ctx: TwinContext): string {
  return `/restapi/v1.0/account/${ctx.account.accountId}`;
}

export function extensionPath(ctx: TwinContext, ext: TwinExtension = ctx.account): string {
  return `${accountPath(ctx)}/extension/${ext.extensionId}`;
}

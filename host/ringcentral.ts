import { mkdir, readFile, writeFile, rename } from "node:fs/promises";
import { dirname } from "node:path";
import { randomUUID } from "node:crypto";
import { SDK, type CreateRequestOptions, type SendOptions } from "@ringcentral/sdk";
import type { SipInfo } from "ringcentral-web-phone/types";
import type { Logger } from "pino";
import type { Counter } from "prom-client";
import type { BackoffOptions } from "./backoff.ts";
import { REQUEST_TIMEOUT_MS, RestRetry, restFailure, type RestOperation, type RunOptions } from "./rest-retry.ts";

export interface RingCentralCredentials {
  serverUrl: string;
  clientId: string;
  clientSecret: string;
  jwt: string;
}

export interface Provisioned {
  sipInfo: SipInfo;
  /** device.id: what Call Control's answer takes to bring a call to this host. */
  deviceId: string;
  /**
   * The WebPhone's +sip.instance: kept with the sipInfo, because RingCentral counts instances
   * per extension (5 at most, "603 Too Many Contacts") and a stale one lingers for minutes.
   */
  instanceId: string;
  /** Whether it came from the cache (RingCentral asks apps to reuse sipInfo across restarts). */
  cached: boolean;
}

export interface ExtensionInfo {
  accountId: string;
  extensionId: string;
  extensionNumber: string;
  name: string;
}

interface CacheFile {
  serverUrl: string;
  clientId: string;
  extensionId: string;
  sipInfo: SipInfo;
  deviceId: string;
  instanceId: string;
  savedAtMs: number;
}

/** What each call needs granted to the app (RingCentral developer console → the app → Settings → App scopes). */
const PERMISSION: Partial<Record<RestOperation, string>> = {
  extension: "Read Accounts",
  "sip-provision": "VoIP Calling",
  "subscription-list": "WebHook Subscriptions",
  "subscription-create": "WebHook Subscriptions",
  "subscription-renew": "WebHook Subscriptions",
  "subscription-delete": "WebHook Subscriptions",
  "call-control-answer": "Call Control",
};

/**
 * Errors from the SDK carry the response (and, from RestRetry, the operation); this turns them
 * into one line a person can act on.
 */
export function describeRcError(err: unknown, serverUrl: string): string {
  const e = err as { message?: string; response?: { status?: number }; code?: string; cause?: { code?: string }; operation?: RestOperation };
  const status = e.response?.status;
  const code = e.code ?? e.cause?.code;
  const op = e.operation;
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN" || /fetch failed|ECONNREFUSED|ENOTFOUND/.test(e.message ?? ""))
    return `cannot reach RingCentral at ${serverUrl} (${code ?? "network error"}): check RINGCENTRAL_SERVER_URL and the network`;
  if ((status === 400 || status === 401) && (op === undefined || op === "login" || op === "refresh"))
    return `RingCentral refused the login (${status}: ${e.message}): check RINGCENTRAL_CLIENT_ID, RINGCENTRAL_CLIENT_SECRET and RINGCENTRAL_JWT_TOKEN`;
  if (status === 403 && op && PERMISSION[op])
    return `RingCentral refused ${op} (403: ${e.message}): give the app the "${PERMISSION[op]}" permission, or use a JWT of a user allowed to`;
  if (status === 404 && (op === "login" || op === "extension" || op === "sip-provision"))
    return `RingCentral has no such resource (404 on ${op}: ${e.message}): check RINGCENTRAL_SERVER_URL names the platform (https://platform.ringcentral.com)`;
  if (status === 400 && op === "subscription-create")
    return `RingCentral refused the webhook subscription (400: ${e.message}): check WEBHOOK_PUBLIC_URL reaches this host's /webhooks/ringcentral from the internet`;
  return `RingCentral request failed${op ? ` (${op}${status ? ` ${status}` : ""})` : status ? ` (${status})` : ""}: ${e.message ?? String(err)}`;
}

export interface RingCentralOptions {
  /** rcvh_rest_retries_total. */
  retries?: Counter<"operation" | "reason">;
  /** Each request's timeout (REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
  /** The policy's backoff (tests shorten it). */
  backoff?: Partial<BackoffOptions>;
}

/**
 * The host's REST side: JWT login, the extension, sip-provision with a cached sipInfo, and
 * `request` for every other call. Every call, the SDK's token refresh included, runs under the
 * retry policy (rest-retry.ts) until it succeeds, fails definitively, or the host stops.
 */
export class RingCentral {
  readonly sdk: SDK;
  readonly retry: RestRetry;
  extension: ExtensionInfo | undefined;
  /** In a cluster, the instance lease decides the WebPhone's instanceId, not the cache. */
  leasedInstanceId: string | undefined;
  /** Aborted by logout(): every retry under way ends. */
  private readonly stopping = new AbortController();
  private tokenRenewal: Promise<void> | undefined;

  constructor(
    private readonly creds: RingCentralCredentials,
    private readonly cachePath: string,
    private readonly log: Logger,
    opts: RingCentralOptions = {},
  ) {
    this.sdk = new SDK({
      server: creds.serverUrl,
      clientId: creds.clientId,
      clientSecret: creds.clientSecret,
      // Its own token storage: SDKs in one process otherwise share one.
      cachePrefix: `rcvh-${randomUUID()}-`,
      // A refresh that failed on a 503 keeps the refresh token, so the retry can use it.
      clearCacheOnRefreshError: false,
      // node-fetch's own per-request timeout (the SDK's fetch in Node has none by default).
      defaultRequestInit: { timeout: opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS } as CreateRequestOptions,
      // handleRateLimit stays off: it retries a 429 once, after an uncapped Retry-After; the policy covers 429, 5xx and network errors.
    });
    this.retry = new RestRetry(log, opts.retries, opts.backoff);
    // The SDK refreshes an expired token inside every call (and once after a 401) through
    // ensureLoggedIn, the hook it documents for taking refresh over. Ours refreshes under the
    // policy, once for all callers, and logs in again with the JWT if the refresh is refused.
    this.platform.ensureLoggedIn = async () => {
      if (!(await this.platform.auth().accessTokenValid())) await this.renewToken();
      return null;
    };
  }

  get platform() {
    return this.sdk.platform();
  }

  /** One REST call under the policy; `signal` bounds it (a deadline), besides the host stopping. */
  async request(operation: RestOperation, method: "GET" | "POST" | "PUT" | "DELETE", url: string, body?: unknown, opts: RunOptions = {}): Promise<Response> {
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.stopping.signal]) : this.stopping.signal;
    // SendOptions are passed on to the request, so the signal aborts it; a fresh object each time (send() changes it).
    return this.retry.run(operation, (s) => this.platform.send({ method, url, body, signal: s } as SendOptions), { ...opts, signal });
  }

  private renewToken(): Promise<void> {
    this.tokenRenewal ??= (async () => {
      const auth = this.platform.auth();
      try {
        if ((await auth.data()).refresh_token && (await auth.refreshTokenValid())) {
          try {
            await this.retry.run("refresh", () => this.platform.refresh(), { signal: this.stopping.signal });
            return;
          } catch (err) {
            if (this.stopping.signal.aborted) throw err;
            this.log.warn({ err: restFailure(err) }, "ringcentral: token refresh refused, logging in again with the JWT");
          }
        }
        await this.retry.run("login", () => this.platform.login({ jwt: this.creds.jwt }), { signal: this.stopping.signal });
        this.log.info("ringcentral: logged in again with the JWT");
      } finally {
        this.tokenRenewal = undefined;
      }
    })();
    return this.tokenRenewal;
  }

  /** Retries transient failures until RingCentral answers or the host stops; a definitive one is thrown. */
  async login(): Promise<ExtensionInfo> {
    await this.retry.run("login", () => this.platform.login({ jwt: this.creds.jwt }), { signal: this.stopping.signal });
    const ext = (await (await this.request("extension", "GET", "/restapi/v1.0/account/~/extension/~")).json()) as {
      id: number | string;
      extensionNumber: string;
      name: string;
      account: { id: number | string };
    };
    this.extension = { accountId: String(ext.account.id), extensionId: String(ext.id), extensionNumber: ext.extensionNumber, name: ext.name };
    this.log.info({ extensionId: this.extension.extensionId, extensionNumber: ext.extensionNumber }, "ringcentral: logged in");
    return this.extension;
  }

  /** Reuses the cached sipInfo for this app and extension, else provisions and caches it. */
  async provision(opts: { fresh?: boolean } = {}): Promise<Provisioned> {
    const ext = this.extension ?? (await this.login());
    if (!opts.fresh) {
      const cached = await this.readCache();
      if (cached && cached.serverUrl === this.creds.serverUrl && cached.clientId === this.creds.clientId && cached.extensionId === ext.extensionId) {
        return { sipInfo: cached.sipInfo, deviceId: cached.deviceId, instanceId: this.leasedInstanceId ?? cached.instanceId ?? randomUUID(), cached: true };
      }
    }
    const previous = await this.readCache();
    const res = (await (await this.request("sip-provision", "POST", "/restapi/v1.0/client-info/sip-provision", { sipInfo: [{ transport: "WSS" }] })).json()) as {
      device: { id: string | number };
      sipInfo: SipInfo[];
    };
    const sipInfo = res.sipInfo[0];
    if (!sipInfo) throw new Error("sip-provision returned no sipInfo");
    const provisioned = { sipInfo, deviceId: String(res.device.id), instanceId: this.leasedInstanceId ?? previous?.instanceId ?? randomUUID(), cached: false };
    await this.writeCache({
      serverUrl: this.creds.serverUrl,
      clientId: this.creds.clientId,
      extensionId: ext.extensionId,
      sipInfo,
      deviceId: provisioned.deviceId,
      instanceId: provisioned.instanceId,
      savedAtMs: Date.now(),
    });
    this.log.info({ deviceId: provisioned.deviceId }, "ringcentral: sip-provisioned");
    return provisioned;
  }

  /** Ends every retry under way, then revokes the token (one attempt: the host is stopping). */
  async logout(): Promise<void> {
    this.stopping.abort();
    await this.platform.logout().catch(() => {});
  }

  private async readCache(): Promise<CacheFile | undefined> {
    try {
      return JSON.parse(await readFile(this.cachePath, "utf8")) as CacheFile;
    } catch {
      return undefined;
    }
  }

  /** The cache holds the SIP password: owner-only permissions, written atomically. */
  private async writeCache(file: CacheFile): Promise<void> {
    await mkdir(dirname(this.cachePath), { recursive: true });
    const tmp = `${this.cachePath}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(file), { mode: 0o600 });
    await rename(tmp, this.cachePath);
  }
}

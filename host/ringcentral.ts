import { mkdir, readFile, writeFile, rename } from "node:fs/promises";
import { dirname } from "node:path";
import { randomUUID } from "node:crypto";
import { SDK } from "@ringcentral/sdk";
import type { SipInfo } from "ringcentral-web-phone/types";
import type { Logger } from "pino";

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

/** Errors from the SDK carry the response; this turns them into one line a person can act on. */
export function describeRcError(err: unknown, serverUrl: string): string {
  const e = err as { message?: string; response?: { status?: number }; code?: string; cause?: { code?: string } };
  const status = e.response?.status;
  const code = e.code ?? e.cause?.code;
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN" || /fetch failed|ECONNREFUSED|ENOTFOUND/.test(e.message ?? ""))
    return `cannot reach RingCentral at ${serverUrl} (${code ?? "network error"}): check RINGCENTRAL_SERVER_URL and the network`;
  if (status === 400 || status === 401) return `RingCentral refused the login (${status}: ${e.message}): check RINGCENTRAL_CLIENT_ID, RINGCENTRAL_CLIENT_SECRET and RINGCENTRAL_JWT_TOKEN`;
  return `RingCentral request failed${status ? ` (${status})` : ""}: ${e.message ?? String(err)}`;
}

/** The host's REST side: JWT login, the extension, sip-provision with a cached sipInfo. */
export class RingCentral {
  readonly sdk: SDK;
  extension: ExtensionInfo | undefined;

  constructor(
    private readonly creds: RingCentralCredentials,
    private readonly cachePath: string,
    private readonly log: Logger,
  ) {
    this.sdk = new SDK({ server: creds.serverUrl, clientId: creds.clientId, clientSecret: creds.clientSecret });
    // A host runs for weeks; refresh tokens do not. When a refresh fails, log in again with the JWT.
    this.platform.on(this.platform.events.refreshError, (err: Error) => {
      this.log.warn({ err: err.message }, "ringcentral: token refresh failed, logging in again with the JWT");
      void this.platform.login({ jwt: this.creds.jwt }).catch((e: Error) => this.log.error({ err: e.message }, "ringcentral: login again failed"));
    });
  }

  get platform() {
    return this.sdk.platform();
  }

  async login(): Promise<ExtensionInfo> {
    await this.platform.login({ jwt: this.creds.jwt });
    const ext = (await (await this.platform.get("/restapi/v1.0/account/~/extension/~")).json()) as {
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
        return { sipInfo: cached.sipInfo, deviceId: cached.deviceId, instanceId: cached.instanceId ?? randomUUID(), cached: true };
      }
    }
    const previous = await this.readCache();
    const res = (await (await this.platform.post("/restapi/v1.0/client-info/sip-provision", { sipInfo: [{ transport: "WSS" }] })).json()) as {
      device: { id: string | number };
      sipInfo: SipInfo[];
    };
    const sipInfo = res.sipInfo[0];
    if (!sipInfo) throw new Error("sip-provision returned no sipInfo");
    const provisioned = { sipInfo, deviceId: String(res.device.id), instanceId: previous?.instanceId ?? randomUUID(), cached: false };
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

  async logout(): Promise<void> {
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

import pino from "pino";
import wavefile from "wavefile";
import { startTwin, type Twin } from "../../twin/server.ts";
import { Host } from "../../host/host.ts";
import { loadConfig } from "../../host/config.ts";
import { createLogger } from "../../host/log.ts";
import { createHttpApp, listenHttp } from "../../host/http.ts";

/** The product against the twin, in-process: twin, host (real Chrome), given a pipeline URL. */
/** The environment that points the host at a twin (credentials from the twin, its self-signed TLS accepted). */
export function twinEnv(twin: Twin): Record<string, string> {
  return {
    RINGCENTRAL_SERVER_URL: twin.restUrl,
    RINGCENTRAL_CLIENT_ID: twin.clientId,
    RINGCENTRAL_CLIENT_SECRET: twin.clientSecret,
    RINGCENTRAL_JWT_TOKEN: twin.jwt,
    RINGCENTRAL_SIP_INSECURE_TLS: "true",
  };
}

export async function startStack(env: Record<string, string>, twinOptions: Parameters<typeof startTwin>[0] = {}, opts: { beforeHost?: (twin: Twin) => void; log?: pino.Logger } = {}) {
  const twin = await startTwin({ log: pino({ level: "silent" }), ...twinOptions });
  opts.beforeHost?.(twin);
  const port = await freePort();
  const config = loadConfig({
    ...twinEnv(twin),
    SIP_INFO_CACHE: `/tmp/rc-voice-host-test-${process.pid}-${Date.now()}.json`,
    ...env,
    // "self": the host's own HTTP server, which the twin's webhooks reach on loopback.
    ...(env.WEBHOOK_PUBLIC_URL === "self" && { WEBHOOK_PUBLIC_URL: `http://127.0.0.1:${port}` }),
  });
  const host = new Host(config, opts.log ?? createLogger((process.env.TEST_LOG_LEVEL as "info") ?? "silent"));
  // Listening before start: the subscription's handshake comes in while the host starts.
  const app = createHttpApp(host, { apiToken: config.apiToken, metricsRequireToken: config.http.metricsRequireToken });
  const http = await listenHttp(app, "127.0.0.1", port, createLogger("silent"));
  const httpUrl = `http://127.0.0.1:${port}`;
  try {
    await host.start();
  } catch (err) {
    // Nothing left behind by a start that failed: Chrome, the twin, the port.
    http.closeAllConnections();
    http.close();
    await host.stop().catch(() => {});
    await twin.stop();
    throw err;
  }
  return {
    httpUrl,
    twin,
    host,
    config,
    async placeCall(body: Record<string, unknown>): Promise<{ callId: string; telephonySessionId: string; partyId: string }> {
      const res = await fetch(`${twin.controlUrl}/calls`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      if (res.status !== 201) throw new Error(`twin refused the call: ${res.status} ${await res.text()}`);
      return (await res.json()) as { callId: string; telephonySessionId: string; partyId: string };
    },
    async twinCall(id: string): Promise<TwinCallView> {
      return (await (await fetch(`${twin.controlUrl}/calls/${id}`)).json()) as TwinCallView;
    },
    /**
     * The twin call's state, from the twin's call list: what to poll. GET /calls/:id analyses the
     * whole recording each time (an FFT sweep: 25 ms for 10 s of Opus), and it runs in this
     * process, on the event loop the host and the twin's caller share.
     */
    async twinState(id: string): Promise<TwinCallView["state"] | undefined> {
      const { records } = (await (await fetch(`${twin.controlUrl}/calls`)).json()) as { records: Array<{ id: string; state: TwinCallView["state"] }> };
      return records.find((r) => r.id === id)?.state;
    },
    async hangupFromCaller(id: string): Promise<void> {
      await fetch(`${twin.controlUrl}/calls/${id}`, { method: "DELETE" });
    },
    async recording(id: string): Promise<{ samples: Float32Array; rate: number; startedAtMs: number }> {
      const buf = Buffer.from(await (await fetch(`${twin.controlUrl}/calls/${id}/recording.wav`)).arrayBuffer());
      return { ...decodeWav(buf), startedAtMs: (await this.twinCall(id)).heard?.startedAtMs ?? 0 };
    },
    /** The status page's event streams. */
    statusHub: app.statusHub,
    async stop(): Promise<void> {
      await app.statusHub.close();
      http.closeAllConnections();
      http.close();
      await host.stop();
      await twin.stop();
    },
  };
}

export type Stack = Awaited<ReturnType<typeof startStack>>;
export type { Twin };

export interface TwinCallView {
  id: string;
  state: "ringing" | "answered" | "ended";
  endReason: string | null;
  codec: string | null;
  telephonySessionId: string;
  partyId: string;
  answeredAtMs: number | null;
  endedAtMs: number | null;
  caller: { framesSent: number; connectedAtMs: number | null };
  /** The call's SIP dialog: which connection carries it, since when it has none, how often it moved. */
  sip?: { connectionId: number | null; connectionOpen: boolean; lostAtMs: number | null; rebinds: number };
  heard: { startedAtMs: number | null; frames: number; lostFrames: number; dominantHz: number | null; levelDbfs: number | null } | null;
}

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export function decodeWav(buf: Buffer): { samples: Float32Array; rate: number } {
  const w = new wavefile.WaveFile(buf);
  w.toBitDepth("32f");
  return { samples: w.getSamples(false, Float32Array) as unknown as Float32Array, rate: (w.fmt as { sampleRate: number }).sampleRate };
}

export { until } from "./until.ts";

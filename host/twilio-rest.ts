import express, { type Router } from "express";
import { secretEquals } from "../bridge/secret-equal.ts";
import type { Host } from "./host.ts";
import { formBody } from "./http-body.ts";

/**
 * Twilio's one REST call that pipelines use to hang up (Pipecat's auto_hang_up POSTs
 * `Status=completed` here): point the pipeline's Twilio base URL at this host.
 * Basic auth: any user (the account SID), API_TOKEN as the password.
 */
export function twilioRestRouter(host: Pick<Host, "callIdFor" | "viewCall" | "act">, apiToken: string | undefined): Router {
  const r = express.Router();
  r.post("/2010-04-01/Accounts/:accountSid/Calls/:callSid.json", ...formBody("16kb"), async (req, res) => {
    if (!apiToken) return void res.status(404).json({ code: 20404, message: "the Twilio-compatible route needs API_TOKEN set on the host", status: 404 });
    const auth = req.headers.authorization ?? "";
    const password = /^basic /i.test(auth) ? Buffer.from(auth.slice(6), "base64").toString().split(":").slice(1).join(":") : "";
    if (!secretEquals(password, apiToken)) {
      res.setHeader("WWW-Authenticate", 'Basic realm="rc-voice-host"');
      return void res.status(401).json({ code: 20003, message: "Authenticate: Basic auth with API_TOKEN as the password", status: 401 });
    }
    const status = typeof req.body?.Status === "string" ? req.body.Status : undefined;
    if (status !== "completed" && status !== "canceled") return void res.status(400).json({ code: 21218, message: "Status must be completed or canceled", status: 400 });
    const callSid = String(req.params.callSid);
    const notFound = () => void res.status(404).json({ code: 20404, message: `no active call ${callSid}`, status: 404 });
    try {
      // Here, or (in a cluster) on the host that owns the call: the pipeline may reach any host.
      const id = await host.callIdFor(callSid);
      if (!id) return notFound();
      const view = await host.viewCall(id);
      if (!view || view.state === "ended") return notFound();
      await host.act(id, { kind: "hangup", reason: "pipeline-hangup" });
    } catch (err) {
      const e = err as Error & { status?: number };
      const status = e.status ?? 500;
      return void res.status(status).json({ code: status === 404 ? 20404 : 20500, message: e.message, status });
    }
    res.json({ sid: callSid, account_sid: req.params.accountSid, status: "completed" });
  });
  return r;
}

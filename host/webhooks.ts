import express, { type Router } from "express";
import { z } from "zod";
import type { Logger } from "pino";
import { secretEquals } from "../bridge/secret-equal.ts";
import { jsonBody } from "./http-body.ts";

/** The parts of a telephony/sessions event the host acts on (docs/WIRE.md §5.4). */
const party = z.object({
  id: z.string(),
  extensionId: z.string().optional(),
  direction: z.enum(["Inbound", "Outbound"]),
  from: z.object({ phoneNumber: z.string().optional(), name: z.string().optional(), extensionId: z.string().optional() }).partial().optional(),
  to: z.object({ phoneNumber: z.string().optional(), name: z.string().optional(), extensionId: z.string().optional() }).partial().optional(),
  status: z.object({ code: z.string(), reason: z.string().optional() }),
});
const delivery = z.object({
  uuid: z.string(),
  event: z.string().regex(/\/telephony\/sessions$/, { message: "only telephony/sessions events are accepted" }),
  body: z.object({
    telephonySessionId: z.string().regex(/^s-/),
    sequence: z.number().int(),
    parties: z.array(party),
  }),
});
export type TelephonyEvent = z.infer<typeof delivery>["body"];
export type TelephonyParty = z.infer<typeof party>;

const SEEN_LIMIT = 10_000;

/**
 * POST /webhooks/ringcentral: answers the Validation-Token handshake, checks Verification-Token
 * (constant time), and passes each telephony event on once: replays (same uuid, or a sequence
 * not newer than one already seen for that session) change nothing.
 */
export class WebhookReceiver {
  private readonly seenUuids = new Set<string>();
  private readonly lastSequence = new Map<string, number>();
  received = 0;
  replays = 0;

  constructor(
    readonly verificationToken: string,
    /** `uuid`: the delivery's (a cluster handles each delivery once across its hosts). */
    private readonly onEvent: (event: TelephonyEvent, uuid: string) => void,
    private readonly log: Logger,
  ) {}

  router(): Router {
    const r = express.Router();
    r.post("/webhooks/ringcentral", ...jsonBody("256kb"), (req, res) => {
      const validation = req.header("Validation-Token");
      if (validation !== undefined) {
        // The handshake: echo the token, nothing else (RingCentral wants ≤ 1 KB within 3 s).
        res.setHeader("Validation-Token", validation);
        return void res.status(200).end();
      }
      if (!secretEquals(req.header("Verification-Token"), this.verificationToken)) {
        this.log.warn({ ip: req.ip }, "webhook: wrong or missing Verification-Token");
        return void res.status(403).json({ error: "forbidden", message: "Verification-Token is missing or wrong" });
      }
      const parsed = delivery.safeParse(req.body);
      if (!parsed.success) {
        return void res.status(400).json({ error: "bad_request", message: parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ") });
      }
      res.status(200).end();
      this.accept(parsed.data);
    });
    return r;
  }

  private accept(d: z.infer<typeof delivery>): void {
    this.received++;
    const last = this.lastSequence.get(d.body.telephonySessionId);
    if (this.seenUuids.has(d.uuid) || (last !== undefined && d.body.sequence <= last)) {
      this.replays++;
      return;
    }
    this.seenUuids.add(d.uuid);
    if (this.seenUuids.size > SEEN_LIMIT) this.seenUuids.delete(this.seenUuids.values().next().value!);
    this.lastSequence.set(d.body.telephonySessionId, d.body.sequence);
    if (this.lastSequence.size > SEEN_LIMIT) this.lastSequence.delete(this.lastSequence.keys().next().value!);
    this.onEvent(d.body, d.uuid);
  }
}

import express, { type Router } from "express";
import { z } from "zod";
import type { TwinContext } from "../context.ts";
import { rcErrors } from "./errors.ts";
import { ownerOf, resourceUri } from "./ids.ts";
import type { Subscriptions } from "./subscription-store.ts";
import { parseBody } from "./validate.ts";

/** Older docs call the token `validationToken`; the current spec says `verificationToken`. Both are accepted. */
const deliveryMode = z.object({
  transportType: z.string(),
  address: z.string().optional(),
  verificationToken: z.string().min(1).max(64).optional(),
  validationToken: z.string().min(1).max(64).optional(),
  encryption: z.boolean().optional(),
});

const expiresIn = z.number().positive();

const createBody = z.object({
  eventFilters: z.array(z.string()).min(1),
  deliveryMode,
  expiresIn: expiresIn.optional(),
});

/** PUT: every field optional; an empty body just renews. */
const updateBody = z.object({
  eventFilters: z.array(z.string()).min(1).optional(),
  deliveryMode: deliveryMode.optional(),
  expiresIn: expiresIn.optional(),
});

type DeliveryMode = z.infer<typeof deliveryMode>;

function webhookTarget(mode: DeliveryMode): { address: string; verificationToken?: string } {
  if (mode.transportType !== "WebHook") throw rcErrors.invalidParameter("deliveryMode.transportType", "the twin supports only WebHook");
  if (!mode.address) throw rcErrors.invalidParameter("deliveryMode.address", "required for WebHook");
  return { address: mode.address, verificationToken: mode.verificationToken ?? mode.validationToken };
}

/** `/v1.0/subscription[/{id}[/renew]]`: create, list, get, update, delete, renew. */
export function subscriptionsRouter(ctx: TwinContext, subscriptions: Subscriptions): Router {
  const router = express.Router();

  router.post("/v1.0/subscription", async (req, res) => {
    const body = parseBody(createBody, req.body);
    const sub = await subscriptions.create({ owner: ownerOf(ctx, res), eventFilters: body.eventFilters, ...webhookTarget(body.deliveryMode), expiresInS: body.expiresIn });
    res.json(subscriptions.info(sub));
  });

  router.get("/v1.0/subscription", (_req, res) => {
    res.json({ uri: resourceUri(ctx, "/restapi/v1.0/subscription"), records: subscriptions.list().map((s) => subscriptions.info(s)) });
  });

  router.get("/v1.0/subscription/:id", (req, res) => {
    const sub = subscriptions.get(req.params.id);
    if (!sub) throw rcErrors.notFound("subscriptionId", req.params.id);
    res.json(subscriptions.info(sub));
  });

  router.put("/v1.0/subscription/:id", async (req, res) => {
    const body = parseBody(updateBody, req.body);
    const target = body.deliveryMode ? webhookTarget(body.deliveryMode) : {};
    const sub = await subscriptions.update(req.params.id, { eventFilters: body.eventFilters, ...target, expiresInS: body.expiresIn });
    res.json(subscriptions.info(sub));
  });

  router.post("/v1.0/subscription/:id/renew", (req, res) => {
    res.json(subscriptions.info(subscriptions.renew(req.params.id)));
  });

  router.delete("/v1.0/subscription/:id", (req, res) => {
    subscriptions.delete(req.params.id);
    res.status(204).end();
  });

  return router;
}

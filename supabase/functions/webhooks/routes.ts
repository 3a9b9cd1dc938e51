// Events out: admins register the academy's endpoints (its CRM) and read every delivery and attempt; the
// scheduler delivers the events the causing transactions wrote (webhooks.ts).
import { z } from "zod";
import { createApp, requireRole, requireServiceRole, zJson, zParam, zQuery } from "../_shared/app.ts";
import { config } from "../_shared/config.ts";
import { describeError, log } from "../_shared/log.ts";
import { describe } from "../_shared/openapi.ts";
import { eventTypes } from "../_domain/events.ts";
import {
  deliverWebhooks,
  Delivery,
  DeliveryList,
  DeliveryQuery,
  DeliveryRun,
  listDeliveries,
  maxAttempts,
  resendDelivery,
} from "./deliveries.ts";
import {
  changeEndpoint,
  CreatedEndpoint,
  createEndpoint,
  Endpoint,
  EndpointList,
  listEndpoints,
  NewEndpoint,
} from "./endpoints.ts";

const adminOnly = { 403: "`forbidden`: not an admin." };
const EndpointParams = z.object({ id: z.uuid() });
const DeliveryParams = z.object({ id: z.coerce.number().int().positive() });
const oneEndpoint = { ...adminOnly, 404: "`endpoint_not_found`: no such endpoint, or it is disabled." };

export const app = createApp("webhooks")
  .get(
    "/endpoints",
    describe({
      summary: "The academy's webhook endpoints",
      description: "Each with its state and how many of its deliveries are pending, delivered and failed.",
      access: "admin",
      ok: { status: 200, schema: EndpointList, description: "Every endpoint, oldest first." },
      errors: adminOnly,
    }),
    requireRole("admin"),
    async (c) => c.json(await listEndpoints()),
  )
  .post(
    "/endpoints",
    describe({
      summary: "Register a webhook endpoint",
      description: `Events of the chosen types (${eventTypes.join(", ")}) that happen from now on are ` +
        "POSTed to the URL as Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature` " +
        "signed with the endpoint's secret; body `{type, timestamp, data}`, each type's in this document's `webhooks`). A 2xx answer " +
        `delivers; anything else is retried after 1 min, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (${maxAttempts} ` +
        "attempts), then the delivery is failed and can be resent. After " +
        "`academy.settings.webhook_failures_before_pause` (20) failed attempts in a row the endpoint is paused. " +
        "The secret is shown in this answer only (`no-store`).",
      access: "admin",
      ok: { status: 201, schema: CreatedEndpoint, description: "The endpoint, with its signing secret." },
      errors: adminOnly,
      okHeaders: {
        "cache-control": { description: "`no-store`: the body holds a secret.", schema: { type: "string" } },
      },
    }),
    requireRole("admin"),
    zJson(NewEndpoint),
    async (c) => {
      c.header("cache-control", "no-store");
      return c.json(await createEndpoint(c.get("user"), c.req.valid("json")), 201);
    },
  )
  .post(
    "/endpoints/:id/resume",
    describe({
      summary: "Resume a paused endpoint",
      description:
        "Its failure count starts again from zero; the deliveries that waited go out with the next run.",
      access: "admin",
      ok: { status: 200, schema: Endpoint, description: "The endpoint, active." },
      errors: oneEndpoint,
    }),
    requireRole("admin"),
    zParam(EndpointParams),
    async (c) => c.json(await changeEndpoint(c.get("user"), c.req.valid("param").id, "resume")),
  )
  .post(
    "/endpoints/:id/disable",
    describe({
      summary: "Disable an endpoint for good",
      description:
        "Nothing more is queued or sent to it; its pending deliveries become failed. Its deliveries " +
        "and attempts stay readable. Idempotent.",
      access: "admin",
      ok: { status: 200, schema: Endpoint, description: "The endpoint, disabled." },
      errors: { ...adminOnly, 404: "`endpoint_not_found`: no such endpoint." },
    }),
    requireRole("admin"),
    zParam(EndpointParams),
    async (c) => c.json(await changeEndpoint(c.get("user"), c.req.valid("param").id, "disable")),
  )
  .get(
    "/deliveries",
    describe({
      summary: "Deliveries and their attempts",
      description:
        "Newest first, keyset-paginated (`before`), filtered by endpoint and status; each with its " +
        "last ten attempts: when, the endpoint's status and the start of its answer, or why there was none.",
      access: "admin",
      ok: { status: 200, schema: DeliveryList, description: "A page of deliveries." },
      errors: adminOnly,
    }),
    requireRole("admin"),
    zQuery(DeliveryQuery),
    async (c) => c.json(await listDeliveries(c.req.valid("query"))),
  )
  .post(
    "/deliveries/:id/resend",
    describe({
      summary: "Send a delivery again, now",
      description:
        "One attempt right away (also for a paused endpoint's delivery); attempts count from one " +
        "again, and a failure is retried with the backoff.",
      access: "admin",
      ok: { status: 200, schema: Delivery, description: "The delivery after this attempt." },
      errors: { ...adminOnly, 404: "`delivery_not_found`: no such delivery, or its endpoint is disabled." },
    }),
    requireRole("admin"),
    zParam(DeliveryParams),
    async (c) => c.json(await resendDelivery(c.get("user"), c.req.valid("param").id)),
  )
  .post(
    "/deliver",
    describe({
      summary: "Deliver the due events",
      description: "For the scheduler (every minute): reports students who stalled (`student.stalled`), " +
        "queues a delivery per endpoint for new events, sends the due ones, each endpoint in its own lane (a slow " +
        "or failing endpoint delays no other), until shortly before the request's deadline " +
        "(`REQUEST_DEADLINE_MS`) or 2,000 attempts, and purges events older than 30 days with nothing left to " +
        "send. When more is due (`more`), the run calls this route again with the same key as soon as a lane " +
        "stops with more due, so a backlog drains run after run instead of a run a minute.",
      access: "service",
      ok: { status: 200, schema: DeliveryRun, description: "What this run did." },
    }),
    requireServiceRole(),
    async (c) => {
      // The next run starts as soon as a lane runs out of time or budget with more due, beside this one's
      // slower lanes.
      return c.json(
        await deliverWebhooks(
          undefined,
          () => continueDelivering(c.req.header("authorization"), c.req.header("apikey")),
        ),
      );
    },
  );

/**
 * The next run, started beside this one (Supabase keeps the isolate alive for it through
 * `EdgeRuntime.waitUntil`): the same route on the project's URL, with the key the scheduler presented.
 */
function continueDelivering(authorization: string | undefined, apikey: string | undefined): void {
  const { supabaseUrl } = config();
  if (!supabaseUrl) return;
  const headers: Record<string, string> = {};
  if (authorization) headers.authorization = authorization;
  if (apikey) headers.apikey = apikey;
  const next = fetch(new URL("/functions/v1/webhooks/deliver", supabaseUrl), { method: "POST", headers })
    .then(async (response) => {
      await response.body?.cancel();
      if (!response.ok) log("warn", "webhook_run_not_continued", { status: response.status });
    })
    .catch((error) => log("warn", "webhook_run_not_continued", { error: describeError(error) }));
  (globalThis as { EdgeRuntime?: { waitUntil(work: Promise<unknown>): void } }).EdgeRuntime?.waitUntil(next);
}

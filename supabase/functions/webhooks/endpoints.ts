/**
 * The academy's webhook endpoints (docs/architecture.md, "Events out"): registered by an admin with a secret that
 * is sealed, never stored in the clear; paused after repeated failures until an admin resumes them, or disabled.
 */

import { z } from "zod";
import type { AuthUser } from "../_shared/auth.ts";
import { config } from "../_shared/config.ts";
import { audit, secret as secretMark } from "../_domain/audit.ts";
import { db, type Sql, type Transaction, withTransaction } from "../_shared/db.ts";
import { eventTypes, EventTypeSchema } from "../_domain/events.ts";
import { HttpError } from "../_shared/errors.ts";
import { typedText } from "../_shared/input.ts";
import { fieldError } from "../_shared/app.ts";
import {
  checkOutboundUrl,
  normaliseOutboundUrl,
  type OutboundPolicy,
  OutboundRefused,
} from "../_shared/outbound.ts";
import { log } from "../_shared/log.ts";
import { timestamp } from "../_shared/openapi.ts";
import { sealPassword } from "../_domain/password.ts";

const secretPattern = /^whsec_[A-Za-z0-9+/]{32,}={0,2}$/;
export const sealContext = (endpointId: string) => `webhook-endpoint:${endpointId}`;

/** Where events may go: https to a public host (webhooksToLoopback: also this machine, locally). */
export const outboundPolicy = (): OutboundPolicy => ({ loopback: config().webhooksToLoopback });

/** The checks that need no network (scheme, no credentials); the host's addresses are checked on creation. */
const endpointUrl = z.string().max(2000).superRefine((text, context) => {
  try {
    normaliseOutboundUrl(text, outboundPolicy());
  } catch (refused) {
    if (!(refused instanceof OutboundRefused)) throw refused;
    context.addIssue({ code: "custom", message: refused.message });
  }
});

export const NewEndpoint = z.strictObject({
  url: endpointUrl.meta({
    description: "Where events are POSTed: https, no user name or password, a host whose every address is " +
      "public (private, loopback, link-local and reserved addresses are refused, now and before each delivery).",
  }),
  event_types: z.array(EventTypeSchema).min(1).max(eventTypes.length)
    .refine((types) => new Set(types).size === types.length, "each type once")
    .meta({ description: "The event types this endpoint takes." }),
  description: typedText(0, 500).optional(),
  secret: z.string().regex(
    secretPattern,
    "a Standard Webhooks secret: whsec_ and at least 24 bytes of base64",
  )
    .optional().meta({ description: "Your own signing secret; one is generated when absent." }),
}).meta({ id: "NewEndpoint" });
export type NewEndpoint = z.output<typeof NewEndpoint>;

export const Endpoint = z.object({
  id: z.uuid(),
  url: z.string(),
  description: z.string().nullable(),
  event_types: z.array(EventTypeSchema),
  state: z.enum(["active", "paused", "disabled"]).meta({
    description: "`paused`: failed too often in a row; its deliveries wait until an admin resumes it.",
  }),
  consecutive_failures: z.number().int(),
  paused_at: timestamp.nullable(),
  created_at: timestamp,
  deliveries: z.object({ pending: z.number().int(), delivered: z.number().int(), failed: z.number().int() }),
}).meta({ id: "WebhookEndpoint" });
export type Endpoint = z.output<typeof Endpoint>;

export const CreatedEndpoint = Endpoint.extend({
  secret: z.string().meta({ description: "The signing secret, shown in this answer only." }),
}).meta({ id: "CreatedWebhookEndpoint" });

export type CreatedEndpoint = z.output<typeof CreatedEndpoint>;

export const EndpointList = z.object({ endpoints: z.array(Endpoint) }).meta({ id: "WebhookEndpointList" });
export type EndpointList = z.output<typeof EndpointList>;

/** One endpoint as admins read it, built in SQL. `e` is the endpoint's row. */
const endpointJson = (sql: Sql | Transaction) =>
  sql`
  jsonb_build_object(
    'id', e.id, 'url', e.url, 'description', e.description, 'event_types', to_jsonb(e.event_types),
    'state', case when e.disabled_at is not null then 'disabled' when e.paused_at is not null then 'paused'
                  else 'active' end,
    'consecutive_failures', e.consecutive_failures, 'paused_at', e.paused_at, 'created_at', e.created_at,
    'deliveries', (
      select jsonb_build_object('pending', count(*) filter (where d.status = 'pending'),
                                'delivered', count(*) filter (where d.status = 'delivered'),
                                'failed', count(*) filter (where d.status = 'failed'))
      from private.webhook_deliveries d where d.endpoint_id = e.id
    )
  )`;

export async function listEndpoints(sql: Sql = db()): Promise<EndpointList> {
  const rows = await sql<{ endpoint: Endpoint }[]>`
    select ${endpointJson(sql)} as endpoint from private.webhook_endpoints e order by e.created_at, e.id`;
  return { endpoints: rows.map((row) => row.endpoint) };
}

/** Registers an endpoint; its secret (given or generated) is sealed, never stored in the clear. */
export async function createEndpoint(
  admin: AuthUser,
  input: NewEndpoint,
  sql: Sql = db(),
): Promise<CreatedEndpoint> {
  const id = crypto.randomUUID();
  let url: URL;
  try {
    url = await checkOutboundUrl(input.url, outboundPolicy());
  } catch (refused) {
    if (refused instanceof OutboundRefused) throw fieldError("url", refused.message);
    throw refused;
  }
  const secret = input.secret ??
    `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
  const sealed = await sealPassword(secret, sealContext(id));
  const row = await withTransaction(async (tx) => {
    const [created] = await tx<{ endpoint: Endpoint }[]>`
      with e as (
        insert into private.webhook_endpoints (id, url, description, sealed_secret, event_types, created_by)
        values (${id}, ${url.href}, ${
      input.description || null
    }, ${sealed}, ${input.event_types}::public.webhook_event_type[], ${admin.id})
        returning *
      )
      select ${endpointJson(tx)} as endpoint from e`;
    // From now on it receives every student's data of these types: who pointed it where is kept.
    await audit(tx, {
      actor: admin,
      action: "webhook.endpoint_created",
      target: { type: "webhook_endpoint", id },
      changes: {
        url: { before: null, after: url.href },
        event_types: { before: null, after: input.event_types },
        secret: { before: null, after: secretMark },
      },
    });
    return created;
  }, sql);
  log("info", "webhook_endpoint_created", { endpoint_id: id, by: admin.id });
  return { ...row.endpoint, secret };
}

/** Resumes a paused endpoint (its waiting deliveries go out with the next run) or disables one for good. */
export async function changeEndpoint(
  admin: AuthUser,
  id: string,
  change: "resume" | "disable",
  sql: Sql = db(),
): Promise<Endpoint> {
  return await withTransaction(async (tx) => {
    const endpoint = await changeEndpointIn(tx, id, change);
    await audit(tx, {
      actor: admin,
      action: change === "resume" ? "webhook.endpoint_resumed" : "webhook.endpoint_disabled",
      target: { type: "webhook_endpoint", id },
      changes: { state: { before: null, after: endpoint.state } },
    });
    return endpoint;
  }, sql);
}

async function changeEndpointIn(
  sql: Transaction,
  id: string,
  change: "resume" | "disable",
): Promise<Endpoint> {
  const [row] = change === "resume"
    ? await sql<{ endpoint: Endpoint }[]>`
      with e as (
        update private.webhook_endpoints set paused_at = null, consecutive_failures = 0
        where id = ${id} and disabled_at is null returning *
      )
      select ${endpointJson(sql)} as endpoint from e`
    : await sql<{ endpoint: Endpoint }[]>`
      with e as (
        update private.webhook_endpoints set disabled_at = coalesce(disabled_at, now())
        where id = ${id} returning *
      ),
      dropped as (
        update private.webhook_deliveries set status = 'failed'
        where endpoint_id = ${id} and status = 'pending'
      )
      select ${endpointJson(sql)} as endpoint from e`;
  if (!row) throw new HttpError(404, "endpoint_not_found", "No such webhook endpoint (or it is disabled)");
  return row.endpoint;
}

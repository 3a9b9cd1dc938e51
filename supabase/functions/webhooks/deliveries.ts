/**
 * Events out (docs/architecture.md, "Events out"): the academy's endpoints, and the delivery of the events the
 * causing transactions wrote (private.webhook_events). The scheduler's `POST /webhooks/deliver` queues a delivery
 * per endpoint that takes an event's type, then sends the due ones signed as Standard Webhooks with the
 * endpoint's secret; a 2xx delivers, anything else is retried with backoff and logged as an attempt; an
 * endpoint that fails `webhook_failures_before_pause` times in a row is paused until an admin resumes it.
 */
import { Webhook } from "standardwebhooks";
import { z } from "zod";
import type { AuthUser } from "../_shared/auth.ts";
import { config } from "../_shared/config.ts";
import { audit } from "../_domain/audit.ts";
import { db, type Sql, type Transaction, withTransaction } from "../_shared/db.ts";
import { type EventType, EventTypeSchema } from "../_domain/events.ts";
import { HttpError } from "../_shared/errors.ts";

import { assertPublicHost, OutboundRefused } from "../_shared/outbound.ts";
import { describeError, log } from "../_shared/log.ts";
import { timestamp } from "../_shared/openapi.ts";
import { unsealPassword } from "../_domain/password.ts";
import { outboundPolicy, sealContext } from "./endpoints.ts";

/** Seconds before the 2nd, 3rd, … 8th attempt: a minute, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (about 28 h). */
export const retryBackoffSeconds = [60, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
/** After this many attempts a delivery is `failed` (an admin can resend it). */
export const maxAttempts = retryBackoffSeconds.length + 1;
/** An endpoint has this long to answer an attempt (Standard Webhooks asks receivers to answer at once). */
const attemptTimeoutMs = 5_000;
/**
 * An answer slower than this counts against its endpoint like a failure (towards the pause), though a 2xx
 * still delivers: a CRM that takes seconds to answer holds deliveries back and is for its owner to fix.
 */
export const slowAnswerMs = 2_000;
/** Attempts in flight at once for one endpoint while it answers well; one at a time once it does not. */
const attemptsPerEndpoint = 8;
/** Endpoints served at once in a run, the ones whose oldest delivery has waited longest first. */
const endpointsPerRun = 32;
/**
 * Attempts at most in one run: signing and sending one costs the function well under a millisecond of CPU, so
 * a run stays inside the platform's 2 s of CPU per request; a larger backlog is the next run's (`more`).
 */
const attemptsPerRun = 2_000;
/**
 * How long a run keeps claiming deliveries: its last attempts must end before the request's deadline
 * (REQUEST_DEADLINE_MS), so the scheduler always gets the run's answer; what is left goes next minute.
 */
const claimWindowMs = () => Math.max(1_000, config().requestDeadlineMs - attemptTimeoutMs - 1_000);

const Attempt = z.object({
  attempted_at: timestamp,
  response_status: z.number().int().nullable(),
  error: z.string().nullable().meta({
    description:
      "Why no answer came: a timeout, a refused connection, or an address refused before sending. " +
      "What an endpoint answers is never kept or shown, only its status and timing.",
  }),
  duration_ms: z.number().int(),
});

export const Delivery = z.object({
  id: z.number().int(),
  endpoint_id: z.uuid(),
  event: z.object({ id: z.number().int(), type: EventTypeSchema, created_at: timestamp }),
  status: z.enum(["pending", "delivered", "failed"]),
  attempts: z.number().int(),
  next_attempt_at: timestamp.nullable().meta({ description: "When a pending delivery is tried next." }),
  delivered_at: timestamp.nullable(),
  recent_attempts: z.array(Attempt).meta({ description: "The last ten attempts, newest first." }),
}).meta({ id: "WebhookDelivery" });
export type Delivery = z.output<typeof Delivery>;

export const DeliveryList = z.object({
  deliveries: z.array(Delivery),
  next_cursor: z.number().int().nullable().meta({ description: "Pass as `before` for older ones." }),
}).meta({ id: "WebhookDeliveryList" });
export type DeliveryList = z.output<typeof DeliveryList>;

export const DeliveryQuery = z.object({
  endpoint_id: z.uuid().optional(),
  status: z.enum(["pending", "delivered", "failed"]).optional(),
  before: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
}).meta({ id: "WebhookDeliveryQuery" });

export const DeliveryRun = z.object({
  stalled_students: z.number().int().meta({ description: "Students reported as student.stalled now." }),
  deliveries_queued: z.number().int(),
  old_events_purged: z.number().int(),
  attempted: z.number().int(),
  delivered: z.number().int(),
  failed_attempts: z.number().int(),
  slow_answers: z.number().int().meta({
    description: `Answers slower than ${slowAnswerMs} ms: they count against their endpoint like failures.`,
  }),
  endpoints_paused: z.number().int(),
  more: z.boolean().meta({
    description: "Deliveries were still due when the run's time or budget ended: call again now (the " +
      "scheduler does), so the rate follows the backlog.",
  }),
}).meta({ id: "WebhookDeliveryRun" });
export type DeliveryRun = z.output<typeof DeliveryRun>;

/** One delivery with its event and last ten attempts, built in SQL. `d` is the delivery's row. */
const deliveryJson = (sql: Sql) =>
  sql`
  jsonb_build_object(
    'id', d.id, 'endpoint_id', d.endpoint_id,
    'event', (select jsonb_build_object('id', v.id, 'type', v.event_type, 'created_at', v.created_at)
              from private.webhook_events v where v.id = d.event_id),
    'status', d.status, 'attempts', d.attempts,
    'next_attempt_at', case when d.status = 'pending' then d.next_attempt_at end,
    'delivered_at', d.delivered_at,
    'recent_attempts', (
      select coalesce(jsonb_agg(jsonb_build_object(
        'attempted_at', a.attempted_at, 'response_status', a.response_status, 'error', a.error,
        'duration_ms', a.duration_ms) order by a.id desc), '[]')
      from (select * from private.webhook_attempts a where a.delivery_id = d.id order by a.id desc limit 10) a
    )
  )`;

export async function listDeliveries(
  query: z.output<typeof DeliveryQuery>,
  sql: Sql = db(),
): Promise<DeliveryList> {
  const rows = await sql<{ id: number; delivery: Delivery }[]>`
    select d.id, ${deliveryJson(sql)} as delivery
    from private.webhook_deliveries d
    where (${query.endpoint_id ?? null}::uuid is null or d.endpoint_id = ${query.endpoint_id ?? null}::uuid)
      and (${query.status ?? null}::text is null or d.status = ${query.status ?? null}::text)
      and (${query.before ?? null}::bigint is null or d.id < ${query.before ?? null}::bigint)
    order by d.id desc
    limit ${query.limit + 1}`;
  const page = rows.slice(0, query.limit);
  return {
    deliveries: page.map((row) => row.delivery),
    next_cursor: rows.length > query.limit ? Number(page[page.length - 1].id) : null,
  };
}

/** One delivery, to send or as an admin reads it. */
interface DueDelivery {
  id: number;
  attempts: number;
  endpoint_id: string;
  url: string;
  sealed_secret: string;
  event_id: number;
  event_type: EventType;
  data: Record<string, unknown>;
  created_at: Date;
}

/** A claimed delivery's columns (`d` the delivery, `e` its endpoint, `v` its event), as `DueDelivery`. */
const dueColumns = (sql: Sql | Transaction) =>
  sql`d.id, d.attempts, e.id as endpoint_id, e.url, e.sealed_secret, v.id as event_id, v.event_type, v.data,
      v.created_at`;

/**
 * Sends one delivery now, whatever its state (an admin's resend): attempts start again from one, and a
 * failure is retried with the backoff. Answers the delivery after the attempt.
 */
export async function resendDelivery(admin: AuthUser, id: number, sql: Sql = db()): Promise<Delivery> {
  const due = await withTransaction(async (tx) => {
    const [claimed] = await tx<DueDelivery[]>`
      update private.webhook_deliveries d
      set status = 'pending', delivered_at = null, attempts = 1, last_attempt_at = now(),
          next_attempt_at = now() + interval '5 minutes'
      from private.webhook_endpoints e, private.webhook_events v
      where d.id = ${id} and e.id = d.endpoint_id and v.id = d.event_id and e.disabled_at is null
      returning ${dueColumns(tx)}`;
    if (!claimed) {
      throw new HttpError(404, "delivery_not_found", "No such delivery (or its endpoint is disabled)");
    }
    await audit(tx, {
      actor: admin,
      action: "webhook.delivery_resent",
      target: { type: "webhook_endpoint", id: claimed.endpoint_id },
      changes: { delivery: { before: null, after: id }, event: { before: null, after: claimed.event_id } },
    });
    return claimed;
  }, sql);
  await attempt(sql, due);
  const [row] = await sql<{ delivery: Delivery }[]>`
    select ${deliveryJson(sql)} as delivery from private.webhook_deliveries d where d.id = ${id}`;
  return row.delivery;
}

/** The body an endpoint receives, as Standard Webhooks shapes it. */
function payloadOf(due: DueDelivery): string {
  return JSON.stringify({ type: due.event_type, timestamp: due.created_at.toISOString(), data: due.data });
}

/** What one attempt came to. */
interface Outcome {
  delivered: boolean;
  /** Answered, but slower than `slowAnswerMs`. */
  slow: boolean;
  /** This attempt paused its endpoint. */
  paused: boolean;
}

/** One attempt: sign, POST, record what came back. */
async function attempt(sql: Sql, due: DueDelivery): Promise<Outcome> {
  const started = performance.now();
  let status: number | null = null;
  let error: string | null = null;
  try {
    // Again before each delivery: the name may resolve elsewhere now than when it was registered.
    await assertPublicHost(new URL(due.url), outboundPolicy());
    const secret = await unsealPassword(due.sealed_secret, sealContext(due.endpoint_id));
    if (!secret) throw new Error("The endpoint's secret cannot be unsealed (SEALING_KEY changed?)");
    const payload = payloadOf(due);
    const messageId = `evt_${due.event_id}`;
    const sentAt = new Date();
    const response = await fetch(due.url, {
      method: "POST",
      redirect: "manual",
      signal: AbortSignal.timeout(attemptTimeoutMs),
      headers: {
        "content-type": "application/json",
        "user-agent": "Tripwire-Webhooks/1",
        "webhook-id": messageId,
        "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)),
        "webhook-signature": new Webhook(secret).sign(messageId, sentAt, payload),
      },
      body: payload,
    });
    status = response.status;
    await response.body?.cancel().catch(() => {});
  } catch (failure) {
    error = failure instanceof OutboundRefused
      ? `not sent: the URL ${failure.message}`
      : describeError(failure).slice(0, 500);
  }
  const delivered = status !== null && status >= 200 && status < 300;
  const durationMs = Math.round(performance.now() - started);
  const slow = status !== null && durationMs > slowAnswerMs;
  // A failure, or a slow answer, is a strike against the endpoint; a prompt 2xx clears them.
  const strike = !delivered || slow;
  const [recorded] = await sql<{ paused_now: boolean }[]>`
    with attempt as (
      insert into private.webhook_attempts (delivery_id, response_status, error, duration_ms)
      values (${due.id}, ${status}, ${error}, ${durationMs})
    ),
    delivery as (
      update private.webhook_deliveries d
      set status = case when ${delivered}::boolean then 'delivered'
                        when d.attempts >= ${maxAttempts} then 'failed' else 'pending' end,
          delivered_at = case when ${delivered}::boolean then now() end,
          next_attempt_at = now() + make_interval(secs => (${retryBackoffSeconds}::int[])[least(d.attempts, ${retryBackoffSeconds.length})])
      where d.id = ${due.id}
      returning d.endpoint_id
    ),
    endpoint as (
      update private.webhook_endpoints e
      set consecutive_failures = case when ${strike}::boolean then e.consecutive_failures + 1 else 0 end,
          paused_at = case when ${strike}::boolean and e.paused_at is null
                            and e.consecutive_failures + 1 >= s.webhook_failures_before_pause then now()
                           else e.paused_at end
      from delivery d, academy.settings s
      where e.id = d.endpoint_id
      returning e.id, e.paused_at is not null and e.consecutive_failures = s.webhook_failures_before_pause as paused_now
    ),
    -- Paused by its failures: the service did it, and the audit says so.
    paused as (
      insert into private.audit_log (actor_id, actor_role, action, target_type, target_id, changes)
      select null, 'service', 'webhook.endpoint_paused', 'webhook_endpoint', e.id::text,
             jsonb_build_object('state', jsonb_build_object('before', 'active', 'after', 'paused'))
      from endpoint e where e.paused_now
    )
    select coalesce((select paused_now from endpoint), false) as paused_now`;
  if (recorded.paused_now) log("warn", "webhook_endpoint_paused", { endpoint_id: due.endpoint_id });
  return { delivered, slow, paused: recorded.paused_now };
}

/**
 * The scheduler's run: report stalled students, queue deliveries for new events, then send what is due, each
 * endpoint in a lane of its own, so that one slow or failing endpoint never delays another: a lane claims up to
 * `attemptsPerEndpoint` of its endpoint's due deliveries (a five-minute lease, so two runs never send one
 * delivery at once), sends them together, and claims again as soon as they are answered; after a failure or a
 * slow answer it sends one at a time. The run ends when nothing is due, at its deadline (its last attempts end
 * before the request's), or after `attemptsPerRun` attempts, and says whether more is due (`more`). The first
 * lane that stops with its endpoint's deliveries still due calls `onMore` at once, so the next run need not
 * wait for this one's slowest lane.
 */
export async function deliverWebhooks(sql: Sql = db(), onMore?: () => void): Promise<DeliveryRun> {
  const [{ prepared }] = await sql<{ prepared: Record<string, number> }[]>`
    select private.prepare_webhooks() as prepared`;
  const run: DeliveryRun = {
    stalled_students: Number(prepared.stalled_students),
    deliveries_queued: Number(prepared.deliveries_queued),
    old_events_purged: Number(prepared.old_events_purged),
    attempted: 0,
    delivered: 0,
    failed_attempts: 0,
    slow_answers: 0,
    endpoints_paused: 0,
    more: false,
  };
  const deadline = Date.now() + claimWindowMs();
  let budget = attemptsPerRun;
  const endpoints = await sql<{ id: string }[]>`
    select e.id from private.webhook_endpoints e
    cross join lateral (
      select d.next_attempt_at from private.webhook_deliveries d
      where d.endpoint_id = e.id and d.status = 'pending' and d.next_attempt_at <= now()
      order by d.next_attempt_at limit 1
    ) oldest
    where e.paused_at is null and e.disabled_at is null
    order by oldest.next_attempt_at
    limit ${endpointsPerRun}`;

  const lane = async (endpointId: string) => {
    let width = attemptsPerEndpoint;
    while (Date.now() < deadline && budget > 0) {
      const take = Math.min(width, budget);
      budget -= take;
      const due = await sql<DueDelivery[]>`
        with due as (
          select d.id from private.webhook_deliveries d
          where d.endpoint_id = ${endpointId} and d.status = 'pending' and d.next_attempt_at <= now()
          order by d.next_attempt_at, d.id
          limit ${take}
          for update of d skip locked
        )
        update private.webhook_deliveries d
        set attempts = d.attempts + 1, last_attempt_at = now(), next_attempt_at = now() + interval '5 minutes'
        from due, private.webhook_endpoints e, private.webhook_events v
        where d.id = due.id and e.id = d.endpoint_id and v.id = d.event_id
          and e.paused_at is null and e.disabled_at is null
        returning ${dueColumns(sql)}`;
      budget += take - due.length;
      if (due.length === 0) return;
      const outcomes = await Promise.all(due.map((delivery) => attempt(sql, delivery)));
      for (const outcome of outcomes) {
        run.attempted++;
        if (outcome.delivered) run.delivered++;
        else run.failed_attempts++;
        if (outcome.slow) run.slow_answers++;
        if (outcome.paused) run.endpoints_paused++;
      }
      if (outcomes.some((outcome) => outcome.paused)) return;
      width = outcomes.every((outcome) => outcome.delivered && !outcome.slow) ? attemptsPerEndpoint : 1;
    }
    // Stopped by the deadline or the budget: is anything of this endpoint's still due?
    const [left] = await sql`
      select 1 from private.webhook_deliveries d
      where d.endpoint_id = ${endpointId} and d.status = 'pending' and d.next_attempt_at <= now() limit 1`;
    if (left && !run.more) {
      run.more = true;
      onMore?.();
    }
  };
  await Promise.all(endpoints.map((endpoint) => lane(endpoint.id)));
  if (endpoints.length === endpointsPerRun && !run.more) {
    run.more = true;
    onMore?.();
  }
  return run;
}

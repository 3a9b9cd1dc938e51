/**
 * Is Tripwire healthy? One report (docs/architecture.md, "Is it healthy?"): what the database knows of itself
 * (`private.system_status()`: the jobs and their last runs, the Vault secrets the jobs need, the e-mail outbox,
 * the webhook backlog and paused endpoints, paid orders waiting, the migration version), what only the
 * functions know (their configuration and build), and the last hour's requests per function and route. Any
 * problem makes it `degraded`; the public answer says only that.
 */
import { z } from "zod";
import { build } from "../_generated/build.ts";
import { config } from "../_shared/config.ts";
import { db, type Sql } from "../_shared/db.ts";
import { describeError, log } from "../_shared/log.ts";
import { timestamp } from "../_shared/openapi.ts";
import { percentileMs } from "../_shared/request_figures.ts";

const count = z.number().int().min(0);

export const PublicStatus = z.object({
  status: z.enum(["ok", "degraded"]),
}).meta({ id: "PublicStatus" });
export type PublicStatus = z.output<typeof PublicStatus>;

export const problemCodes = [
  "database_unreachable",
  "migration_mismatch",
  "job_missing",
  "job_stopped",
  "job_failing",
  "job_overdue",
  "vault_secret_missing",
  "email_not_configured",
  "emails_failing",
  "emails_waiting",
  "webhook_endpoint_paused",
  "payments_waiting",
  "server_errors",
] as const;

const Problem = z.object({
  code: z.enum(problemCodes),
  message: z.string().meta({ description: "What is wrong and where to look, in English." }),
});

const Job = z.object({
  name: z.string(),
  schedule: z.string().nullable(),
  active: z.boolean().nullable(),
  last_started_at: timestamp.nullable(),
  last_status: z.string().nullable().meta({ description: "pg_cron's: `succeeded` or `failed`." }),
  last_message: z.string().nullable(),
  state: z.enum(["ok", "missing", "stopped", "failing", "overdue"]),
});

const RouteFigures = z.object({
  function: z.string(),
  route: z.string().meta({ description: "Method and route pattern, e.g. `POST /:id/refund`." }),
  requests: count,
  client_errors: count,
  server_errors: count,
  error_rate: z.number().min(0).max(1).meta({ description: "Server errors (5xx) per request." }),
  p50_ms: z.number().nullable().meta({
    description: "The latency half the requests were within: the upper bound of its bucket (5, 10, 25, 50, " +
      "100, 250, 500, 1000, 2500, 5000, 10000 ms); null when beyond 10 s.",
  }),
  p95_ms: z.number().nullable(),
});

export const StatusReport = PublicStatus.extend({
  checked_at: timestamp,
  problems: z.array(Problem),
  database: z.object({ reachable: z.boolean(), latency_ms: z.number().nullable() }),
  build: z.object({
    source: z.string().meta({ description: "A hash of the functions' source this build was made from." }),
    migration_expected: z.string().meta({ description: "The last migration this build needs." }),
    migration_applied: z.string().nullable().meta({ description: "The database's last applied migration." }),
  }),
  configuration: z.object({
    email_provider: z.enum(["resend", "log", "not_configured"]),
    login_url: z.string(),
  }),
  scheduler: z.enum(["pg_cron", "outside"]).nullable().meta({
    description: "`outside`: no pg_cron in this database (`npm start` runs the jobs itself).",
  }),
  jobs: z.array(Job),
  vault: z.record(z.string(), z.boolean()).nullable().meta({
    description: "Whether each secret the jobs read from Vault is there (null: no Vault).",
  }),
  emails: z.object({ queued: count, oldest_queued_at: timestamp.nullable(), failed_last_24h: count })
    .nullable(),
  webhooks: z.object({ pending_deliveries: count, events_to_fan_out: count, paused_endpoints: count })
    .nullable(),
  payment_reviews_waiting: count.nullable(),
  requests: z.array(RouteFigures).meta({ description: "The last hour, per function and route." }),
}).meta({ id: "StatusReport" });
export type StatusReport = z.output<typeof StatusReport>;

interface DatabaseStatus {
  scheduler: "pg_cron" | "outside";
  jobs: z.output<typeof Job>[];
  vault: Record<string, boolean> | null;
  migration: string | null;
  emails: { queued: number; oldest_queued_at: string | null; failed_last_24h: number };
  webhooks: { pending_deliveries: number; events_to_fan_out: number; paused_endpoints: number };
  payment_reviews_waiting: number;
}

/** An e-mail waiting longer than this means the retries are not running or the provider refuses. */
const emailWaitMinutes = 30;
/** A route with at least this many requests in the hour and more than this share of 5xx is a problem. */
const serverErrorFloor = { requests: 20, rate: 0.05 };

/** The whole report; never throws for the database being down (that is what it reports). */
export async function statusReport(sql: Sql = db()): Promise<StatusReport> {
  const problems: z.output<typeof Problem>[] = [];
  const problem = (code: (typeof problemCodes)[number], message: string) => problems.push({ code, message });
  const { resendApiKey, local, loginUrl } = config();
  const emailProvider = resendApiKey ? "resend" : local ? "log" : "not_configured";
  if (emailProvider === "not_configured") {
    problem("email_not_configured", "RESEND_API_KEY is not set: e-mails wait in the outbox, none is sent.");
  }

  let database: DatabaseStatus | undefined;
  let requests: z.output<typeof RouteFigures>[] = [];
  let latencyMs: number | null = null;
  try {
    const started = performance.now();
    await sql`select 1`;
    latencyMs = Math.round((performance.now() - started) * 10) / 10;
    [{ status: database }] = await sql<
      { status: DatabaseStatus }[]
    >`select private.system_status() as status`;
    requests = await lastHour(sql);
  } catch (error) {
    log("warn", "status_database_unreachable", { error: describeError(error) });
    problem("database_unreachable", `The database did not answer: ${describeError(error).slice(0, 200)}`);
  }

  if (database) {
    if (database.migration !== build.migration) {
      problem(
        "migration_mismatch",
        `The functions need migration ${build.migration}; the database's last is ${
          database.migration ?? "none"
        }.`,
      );
    }
    for (const job of database.jobs) {
      if (job.state === "ok") continue;
      const code = `job_${job.state}` as const;
      problem(
        code,
        `pg_cron job ${job.name}: ${job.state}${job.last_message ? ` (${job.last_message})` : ""}.`,
      );
    }
    // The jobs that call the functions read the project's URL and a secret key from Vault.
    if (database.scheduler === "pg_cron" && database.vault) {
      for (const [name, present] of Object.entries(database.vault)) {
        if (!present) {
          problem("vault_secret_missing", `Vault has no ${name}: the e-mail and webhook jobs call nothing.`);
        }
      }
    }
    if (database.emails.failed_last_24h > 0) {
      problem(
        "emails_failing",
        `${database.emails.failed_last_24h} e-mails were given up on in the last 24 hours.`,
      );
    }
    const oldest = database.emails.oldest_queued_at;
    if (
      oldest && Date.now() - Date.parse(oldest) > emailWaitMinutes * 60_000 &&
      emailProvider !== "not_configured"
    ) {
      problem("emails_waiting", `An e-mail has waited more than ${emailWaitMinutes} minutes to be sent.`);
    }
    if (database.webhooks.paused_endpoints > 0) {
      problem(
        "webhook_endpoint_paused",
        `${database.webhooks.paused_endpoints} webhook endpoints are paused after failing: resume them.`,
      );
    }
    if (database.payment_reviews_waiting > 0) {
      problem(
        "payments_waiting",
        `${database.payment_reviews_waiting} paid orders wait for review (Payments).`,
      );
    }
  }
  for (const route of requests) {
    if (route.requests >= serverErrorFloor.requests && route.error_rate > serverErrorFloor.rate) {
      problem(
        "server_errors",
        `${route.function} ${route.route}: ${
          Math.round(route.error_rate * 100)
        } % server errors in the last hour.`,
      );
    }
  }

  return {
    status: problems.length === 0 ? "ok" : "degraded",
    checked_at: new Date().toISOString(),
    problems,
    database: { reachable: database !== undefined, latency_ms: latencyMs },
    build: {
      source: build.source,
      migration_expected: build.migration,
      migration_applied: database?.migration ?? null,
    },
    configuration: { email_provider: emailProvider, login_url: loginUrl },
    scheduler: database?.scheduler ?? null,
    jobs: database?.jobs ?? [],
    vault: database?.vault ?? null,
    emails: database?.emails ?? null,
    webhooks: database?.webhooks ?? null,
    payment_reviews_waiting: database?.payment_reviews_waiting ?? null,
    requests,
  };
}

/** The last hour's figures per function and route, the latency buckets summed. */
async function lastHour(sql: Sql): Promise<z.output<typeof RouteFigures>[]> {
  const rows = await sql<
    {
      function_name: string;
      route: string;
      requests: number;
      client_errors: number;
      server_errors: number;
      buckets: number[];
    }[]
  >`
    with recent as (
      select * from private.request_minutes where minute_at >= date_trunc('minute', now()) - interval '1 hour'
    ),
    buckets as (
      select r.function_name, r.route, u.i, sum(u.n)::int as n
      from recent r, unnest(r.latency_buckets) with ordinality as u(n, i)
      group by 1, 2, 3
    )
    select r.function_name, r.route, sum(r.requests)::int as requests, sum(r.client_errors)::int as client_errors,
           sum(r.server_errors)::int as server_errors,
           (select array_agg(b.n order by b.i) from buckets b
            where b.function_name = r.function_name and b.route = r.route) as buckets
    from recent r
    group by r.function_name, r.route
    order by r.function_name, r.route`;
  return rows.map((row) => ({
    function: row.function_name,
    route: row.route,
    requests: row.requests,
    client_errors: row.client_errors,
    server_errors: row.server_errors,
    error_rate: row.requests === 0 ? 0 : Math.round((row.server_errors / row.requests) * 10_000) / 10_000,
    p50_ms: percentileMs(row.buckets, 0.5),
    p95_ms: percentileMs(row.buckets, 0.95),
  }));
}

/** The public answer is computed at most every 10 s per process: a monitor (or anyone) may poll it freely. */
const publicCacheMs = 10_000;
let publicAnswer: { at: number; status: Promise<PublicStatus> } | undefined;

export function publicStatus(): Promise<PublicStatus> {
  if (!publicAnswer || Date.now() - publicAnswer.at > publicCacheMs) {
    publicAnswer = { at: Date.now(), status: statusReport().then(({ status }) => ({ status })) };
  }
  return publicAnswer.status;
}

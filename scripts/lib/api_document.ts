/**
 * The whole API in one OpenAPI document (every function's own document merged), and the offline API
 * reference page the local stack serves at /functions/v1/docs (Swagger UI from node_modules).
 */
import type { Hono } from "hono";
import {
  apiVersion,
  commonDocumentation,
  type Document,
  functionDocument,
} from "../../supabase/functions/_shared/openapi.ts";
import { z } from "zod";
import { eventData, eventTypes } from "../../supabase/functions/_domain/events.ts";
import { repoRoot } from "./database.ts";

// deno-lint-ignore no-explicit-any
type FunctionApp = Hono<any, any, any>;

const description =
  `The back end of Tripwire, a short paid video course: Supabase Edge Functions over Postgres.

- **Calling.** \`POST\`/\`GET\` \`{server}/<function>/<route>\`, e.g. with supabase-js's \`functions.invoke\`.
  A signed-in user's access token goes in \`Authorization: Bearer <jwt>\`; the role (student, manager,
  admin) is read from the database, never from the token or the body.
- **Errors.** Every failure is JSON: \`{"error": {"code", "message", "details?"}}\`; \`validation_failed\`
  lists \`details: [{path, message}]\`. Bad input changes nothing.
- **HTTP.** A known path with a method it does not serve answers 405 with \`Allow\`; \`HEAD\` works wherever
  \`GET\` does. When the database is unreachable or overloaded the answer is 503 with \`Retry-After\`.
  Every response carries \`x-request-id\`; GET answers with an \`ETag\` honour \`If-None-Match\` with 304.
- **Documents.** Each function serves its own part at \`{server}/<function>/openapi.json\`.

**Changelog.**
- **7.1.0** — the door people use. \`NewStudent.phone\` takes a phone as people write it (\`8 701 123 45 67\`,
  \`+7 (701) 123-45-67\`), read in the academy's country, and answers it in E.164 as before. A call without a signed-in user's token — none, or the
  project's API key in its place (supabase-js without a session) — answers 401 \`missing_token\` saying to sign in. Request bodies are written out in place, so a client generated with openapi-typescript's
  defaults may leave out fields that have defaults. Logins are made through Supabase Auth's admin API in every
  environment: when Auth fails, a sale answers 502 \`auth_unavailable\` locally too, as deployed. A certificate's
  \`verification_url\` (and its QR code) leads to the page where a person checks it (CERTIFICATE_PAGE_URL; locally
  the web app's), its \`pdf_url\` beside the JSON check; \`course.completed\` carries \`pdf_url\` too. \`AuditPage\` gains \`currency\` (of the amounts in its changes), \`AuditEntry\` gains
  \`actor_name\` and \`target_name\`: the people as they are now (the trail itself still holds no name). The activity feed
  (\`GET /leaderboard/activity\`, a student's \`activity\`) names lessons and modules in the language asked for
  (\`Accept-Language\`).
- **7.0.0** — run it for real. A new function, \`status\`: \`GET /status\` (ok 200 / degraded 503, for a monitor)
  and an admin's \`GET /status/report\` (the jobs, secrets, queues, build and the hour's requests per route).
  \`NewStudent.smoke_test\` (admins): a student who proves the flow and leaves nothing — erasing one removes
  every row. Deployed without an e-mail provider, nothing pretends: \`CreatedStudent.welcome_email\`
  and a password reset's \`email\` may be \`not_configured\` (the e-mail waits in the outbox until
  \`RESEND_API_KEY\` is set), and the retry run's report says \`not_configured\`. Breaking only for a client that
  lists the values.
- **6.0.0** — access ends when it should. A token is honoured only while its session is open in Supabase Auth
  (signed out, banned, deleted or erased → 401 \`invalid_token\` or 403 at once, not when it expires). Webhook
  endpoints must be https to a host whose every address is public, with no user info (checked on registration
  and before each delivery). Breaking: an attempt in \`WebhookDelivery.recent_attempts\` no longer carries
  \`response_body\` (what an endpoint answers is not kept).
- **5.0.0** — money at the door. A paid order is checked against the academy's **offers** (\`GET /payments/offers\`,
  an admin's \`PUT /payments/offers/{id}\`: list price and promotions in the academy's currency) and credited only
  through a manager's signed payment link (\`POST /payments/links\`; \`Data.ref\` / \`metadata.ref\`). Breaking:
  \`order.paid\` requires \`currency\`; \`metadata.manager_id\`/\`manager_email\` and CloudPayments' \`Data.email\`,
  \`Data.manager_*\` no longer decide anything; \`OrderOutcome\` has \`review\` and the outcomes \`attached\` and
  \`queued\`; a paid order is always answered 200 once recorded and refunds are answered 200 once settled (no
  more 404 \`order_not_found\`, 409 \`email_exists\`, 422 for them); what could not be granted waits in the review
  queue (\`GET /payments/reviews\`, \`POST /payments/reviews/{id}/resolve\`: make the student, attach, \`refund\`
  through CloudPayments' API, mark refunded, dismiss); \`GET /payments/reconciliation\`
  (and \`.csv\`) sets the books against the providers. Every amount comes with its currency: \`currency\` (ISO
  4217, the academy's) in the leaderboard's answers, the activity feed, a student's summary and the created
  student; the CSV exports have a \`currency\` column after the amounts. A manager's sale may name its offer
  (\`offer_id\`): then another amount than its price needs a \`price_reason\`, audited with the sale. A paid order
  from a refunded or suspended student is attached with her access restored when the academy's
  \`repeat_purchase_restores_access\` is on, else queued (\`student_without_access\`).
- **4.2.0** — the academy's day: the leaderboard's answers (\`/leaderboard\`, \`/chart\`, \`/stats\`) carry
  \`today\`, the academy's day in its time zone, for clients to name dates by instead of their own UTC date; a
  CSV's file name carries the academy's today.
- **4.1.0** — orders in and events out: \`payments\` turns a provider's signed paid order (Standard Webhooks or
  CloudPayments) into a student, once per order, and its refund into the manager's refund; \`webhooks\` lets an
  admin register the academy's endpoints, which receive the events described under \`webhooks\` in this document,
  signed as Standard Webhooks. \`GET /students/export.csv\` and \`/students/sales.csv\`; the certificate as a PDF
  (\`…/certificate.pdf\`, the dashboard's \`certificate.pdf_url\`).
- **4.0.0** — paid videos stay paid: the videos are private Storage objects. The dashboard's lessons no longer
  carry \`video_url\` but \`has_video\`; the player asks \`GET /video-tracking/video?lesson_id=\` for a URL that
  Storage signed and that works for \`expires_in_seconds\`, given only to a student who may watch that lesson
  now, and asks again before it runs out.
- **3.0.0** — figures named for what they are: \`students_active\` in the leaderboard and stats is now the
  academy's own count (the manager's students whose status is \`active\`, now; the same in every period), and
  what it used to count is \`students_learning\` (watched or completed a lesson in the period), which now
  includes watching. Watching shows as it happens: a student's \`last_activity_at\` (list, detail,
  dashboard) follows credited heartbeats at most a minute late, the dashboard's \`watched_seconds\` at once.
  The students list sorts by last activity (\`sort=idle_longest|recently_active\`) and filters by it
  (\`inactive_since\`, \`active_since\`).
- **2.0.0** — a student is \`id\` in every answer: the creation (\`POST /create-tripwire-user\`), the password
  reset and the erasure answered \`user_id\` before, the student list and detail \`id\`. Answers that are not
  JSON (CSV exports, PDF documents) can be described.
- **1.0.0** — the first version.`;

/** Merges the functions' documents; a schema two functions both name must be the same schema. */
export async function apiDocument(functions: Record<string, FunctionApp>): Promise<Document> {
  const merged = {
    ...commonDocumentation,
    info: { title: "Tripwire API", version: apiVersion, description },
    tags: [] as { name: string }[],
    paths: {} as Record<string, unknown>,
    components: {} as Record<string, Record<string, unknown>>,
  };
  for (const [name, app] of Object.entries(functions).sort(([a], [b]) => a.localeCompare(b))) {
    const document = await functionDocument(name, app);
    merged.tags.push({ name });
    Object.assign(merged.paths, document.paths);
    for (const [kind, entries] of Object.entries(document.components ?? {})) {
      const into = merged.components[kind] ??= {};
      for (const [key, value] of Object.entries(entries as Record<string, unknown>)) {
        if (key in into && JSON.stringify(into[key]) !== JSON.stringify(value)) {
          throw new Error(`components.${kind}.${key} differs between functions; give one of them another id`);
        }
        into[key] = value;
      }
    }
  }
  return { ...merged, webhooks: eventWebhooks(merged.components.schemas ??= {}) } as unknown as Document;
}

const signatureHeaders = [
  ["webhook-id", "`evt_<event id>`: the same on every retry of the event, so a receiver drops duplicates."],
  ["webhook-timestamp", "Seconds since the epoch when this attempt was signed."],
  ["webhook-signature", "`v1,<base64 HMAC-SHA256 of id.timestamp.body>` with the endpoint's secret."],
] as const;

/**
 * What the academy's endpoints receive (OpenAPI 3.1's `webhooks`): each event type's body, from the same zod
 * schemas the tests parse every delivered event with.
 */
function eventWebhooks(schemas: Record<string, unknown>): Record<string, unknown> {
  /** A body's JSON Schema, its shared parts (`$defs`) moved to components.schemas, where OpenAPI looks. */
  const body = (schema: z.ZodType) => {
    const { $schema: _dialect, $defs = {}, ...rest } = z.toJSONSchema(schema, {
      io: "output",
      unrepresentable: "any",
    });
    const inComponents = (value: unknown) =>
      JSON.parse(JSON.stringify(value).replaceAll('"#/$defs/', '"#/components/schemas/'));
    for (const [name, definition] of Object.entries($defs)) schemas[name] = inComponents(definition);
    return inComponents(rest);
  };
  return Object.fromEntries(eventTypes.map((type) => [type, {
    post: {
      summary: `The \`${type}\` event`,
      description:
        "POSTed to every endpoint registered for this type, signed as Standard Webhooks (verify with " +
        "the `standardwebhooks` library and the endpoint's secret). Answer 2xx to acknowledge; anything else is " +
        "retried with backoff.",
      parameters: signatureHeaders.map(([name, description]) => ({
        in: "header",
        name,
        required: true,
        description,
        schema: { type: "string" },
      })),
      requestBody: {
        required: true,
        content: {
          "application/json": {
            schema: body(z.object({ type: z.literal(type), timestamp: z.string(), data: eventData[type] })),
          },
        },
      },
      responses: { "2XX": { description: "Received: the delivery is done." } },
    },
  }]));
}

const swaggerUi = `${repoRoot}node_modules/swagger-ui-dist/`;
const assets: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
};

/** The API reference page and its assets, under `/functions/v1/docs`; undefined for any other path. */
export async function serveApiReference(path: string): Promise<Response | undefined> {
  if (path === "/functions/v1/docs" || path === "/functions/v1/docs/") {
    return new Response(referencePage, { headers: { "content-type": "text/html; charset=utf-8" } });
  }
  const asset = path.match(/^\/functions\/v1\/docs\/([a-z-]+\.(?:css|js))$/)?.[1];
  if (!asset || !assets[asset]) return undefined;
  return new Response(await Deno.readFile(`${swaggerUi}${asset}`), {
    headers: { "content-type": assets[asset], "cache-control": "public, max-age=3600" },
  });
}

// No CDN and no outside request: the viewer comes from node_modules, the validator badge is off.
const referencePage = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Tripwire API</title>
  <link rel="stylesheet" href="/functions/v1/docs/swagger-ui.css">
</head>
<body>
  <div id="reference"></div>
  <script src="/functions/v1/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/functions/v1/openapi.json",
      dom_id: "#reference",
      validatorUrl: null,
      deepLinking: true,
      tryItOutEnabled: false,
    });
  </script>
</body>
</html>
`;

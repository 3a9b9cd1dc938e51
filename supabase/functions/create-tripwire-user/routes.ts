// A manager (or admin) creates a complete student account after a sale; the scheduler retries
// welcome e-mails the provider refused.
import { createApp, requireRole, requireServiceRole, zJson } from "../_shared/app.ts";
import { idempotencyKeyHeader, idempotencyKeyOf } from "../_domain/idempotency.ts";
import { describe } from "../_shared/openapi.ts";
import { CreatedStudent, NewStudent } from "../_domain/new_student.ts";
import { createTripwireUser } from "../_domain/student_creation.ts";
import { Housekeeping, housekeeping } from "./housekeeping.ts";
import { RetryReport, sendQueuedEmails } from "../_domain/email.ts";

const EmailRetries = Housekeeping.extend({ emails: RetryReport }).meta({ id: "EmailRetries" });

export const app = createApp("create-tripwire-user")
  .post(
    "/",
    describe({
      summary: "Create a student after a sale",
      description: "One request makes the login and every row of the student in one transaction, or " +
        "nothing. `payment_amount` is at most the academy's ceiling (`academy.settings.max_payment_amount`, " +
        "10,000,000 unless changed). The generated password is in this answer only. With an `Idempotency-Key`, a retry " +
        "answers the first response (header `idempotent-replayed: true`) and creates nothing.",
      access: "manager",
      ok: { status: 201, schema: CreatedStudent, description: "The student exists and can sign in." },
      errors: {
        409: "`email_exists`: a user has this e-mail; `request_in_progress`: the first request with this " +
          "Idempotency-Key is still running.",
        422: "`idempotency_key_reused`: this Idempotency-Key came with another body.",
        429:
          "`too_many_creations`: this manager created the academy's limit of students in the last minute " +
          "(`academy.settings.student_creations_per_minute`, 60); nothing was created.",
        502: "`auth_unavailable`: Supabase Auth did not create the login; nothing was created, retry.",
      },
      headers: [idempotencyKeyHeader],
      okHeaders: {
        "idempotent-replayed": { description: "`true` on a replayed answer.", schema: { type: "string" } },
        "cache-control": {
          description: "`no-store`: the body holds a password.",
          schema: { type: "string" },
        },
      },
    }),
    requireRole("manager", "admin"),
    zJson(NewStudent),
    async (c) => {
      const key = idempotencyKeyOf(c.req.header("idempotency-key"));
      const result = await createTripwireUser(c.get("user"), c.req.valid("json"), { idempotencyKey: key });
      c.header("cache-control", "no-store"); // the body holds a password
      if (result.replayed) c.header("idempotent-replayed", "true");
      return c.json(result.body, result.status);
    },
  )
  .post(
    "/retry-emails",
    describe({
      summary: "Retry queued welcome e-mails",
      description: "For the scheduler (every minute): sends the welcome e-mails that are due, purges " +
        "expired idempotency keys and e-mails older than 90 days, and deletes the logins " +
        "of creations a crash interrupted.",
      access: "service",
      ok: { status: 200, schema: EmailRetries, description: "What this run did." },
    }),
    requireServiceRole(),
    async (c) => c.json({ emails: await sendQueuedEmails(), ...await housekeeping() }),
  );

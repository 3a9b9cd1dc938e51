/**
 * A manager creates a complete student in one request, all or nothing (docs/architecture.md,
 * create-tripwire-user): the login through AuthAdmin, then every per-student row in one
 * transaction, the login deleted again if that transaction fails, the welcome e-mail after commit.
 */
import { z } from "zod";
import { audit, paymentProvider, personal } from "../_shared/audit.ts";
import { fieldError } from "../_shared/app.ts";
import { emitEvent } from "../_shared/events.ts";
import type { AuthUser } from "../_shared/auth.ts";
import { db, type Row, type Sql, type Transaction, withTransaction } from "../_shared/db.ts";
import { activity } from "../_shared/activity.ts";
import { HttpError, isUniqueViolation, toHttpError } from "../_shared/errors.ts";
import { describeError, log } from "../_shared/log.ts";
import { moneyNumber, personName } from "../_shared/input.ts";
import { timestamp } from "../_shared/openapi.ts";
import { type AuthAdmin, authAdmin, emailExists } from "../_shared/auth_admin.ts";
import {
  amendStoredResponse,
  claimKey,
  completeKey,
  releaseKey,
  requestHash,
} from "../_shared/idempotency.ts";
import { generatePassword, sealPassword, unsealPassword } from "../_shared/password.ts";
import {
  deliverEmail,
  emailSealContext,
  type EmailSender,
  emailSender,
  type Language,
} from "../_shared/email.ts";

/** A money amount as a JSON number or a decimal string, at most two decimals; normalised to "1234.50". */
const paymentAmount = z.union([
  moneyNumber.min(0).transform((amount) => (Math.round(amount * 100) / 100).toFixed(2)),
  z.string().regex(/^\d{1,10}(\.\d{1,2})?$/, "a non-negative amount with at most two decimals")
    .transform((amount) => Number(amount).toFixed(2)),
], { error: 'a non-negative amount with at most two decimals, e.g. 490 or "490.00"' });

/** The request body. Unknown fields are refused, so a typo never silently drops data. */
export const NewStudent = z.strictObject({
  email: z.string().trim().toLowerCase().max(320)
    .meta({ format: "email", description: "Trimmed and lower-cased; unique among all users." })
    .pipe(z.email()),
  full_name: personName.meta({ description: "NFC-normalised and trimmed; must contain a letter." }),
  phone: z.string().trim().regex(/^\+[1-9][0-9]{6,14}$/, "an E.164 number such as +77011234567")
    .nullish().transform((phone) => phone ?? null),
  payment_amount: paymentAmount.default("0.00"),
  offer_id: z.string().max(63).optional().meta({
    description:
      "The offer sold (GET /payments/offers). Then `payment_amount` must be its price now, or come " +
      "with a `price_reason`; either is audited with the sale.",
  }),
  price_reason: z.string().trim().min(1).max(300).optional().meta({
    description: "Why this sale is not at the offer's price (a discount agreed, a partial payment…).",
  }),
  send_welcome_email: z.boolean().default(true),
  smoke_test: z.boolean().optional().meta({
    description:
      "Admins only (`npm run smoke`): a student who proves the flow and leaves nothing — no welcome " +
      "e-mail, no event reaches the CRM, and `POST /students/{id}/erase` removes every row about them.",
  }),
}).meta({ id: "NewStudent" });
export type NewStudent = z.output<typeof NewStudent>;

/** The 201 body; `password` is shown once (and again only to an identical retry, see idempotency.ts). */
export const CreatedStudent = z.object({
  id: z.uuid(),
  email: z.string(),
  full_name: z.string(),
  phone: z.string().nullable(),
  password: z.string().nullable().meta({
    description: "The generated password, shown once: in this answer and to an identical retry. null on a " +
      "retry whose password can no longer be unsealed.",
  }),
  payment_amount: z.number().min(0),
  currency: z.string().meta({ description: "ISO 4217: the academy's currency, of `payment_amount`." }),
  unlocked_module: z.object({ id: z.number().int(), position: z.number().int(), title: z.string() }),
  welcome_email: z.enum(["sent", "queued", "not_configured", "skipped"]).meta({
    description:
      "`queued`: the provider refused for now, retried; `not_configured`: no e-mail provider is set " +
      "up (RESEND_API_KEY), the e-mail waits until one is — give the student the password yourself.",
  }),
  created_at: timestamp,
}).meta({ id: "CreatedStudent" });
export type CreatedStudent = z.output<typeof CreatedStudent>;

export interface CreationResult {
  status: 201;
  body: CreatedStudent;
  /** True when this is the stored answer to an earlier request with the same Idempotency-Key. */
  replayed: boolean;
}

/** The admissions row of signed paid orders, all providers together (analytics.settings.provider_orders_per_minute). */
const providersAdmission = "00000000-0000-0000-0000-000000000000";

/** The paid order a student comes from (payments function): recorded with the student, once per order. */
export interface PaidOrder {
  provider: "standard" | "cloudpayments";
  orderId: string;
  currency: string | null;
  transactionId: string | null;
}

export interface CreationDependencies {
  sql: Sql;
  authAdmin: AuthAdmin;
  emailSender: EmailSender;
}

const defaultDependencies = (): CreationDependencies => ({
  sql: db(),
  authAdmin: authAdmin(),
  emailSender: emailSender(),
});

const replaySealContext = (managerId: string, key: string) => `idempotency:${managerId}:${key}`;

type WrittenStudent = Pick<Row<"tripwire_users">, "created_at"> & {
  module_id: Row<"tripwire_modules">["id"];
  module_position: Row<"tripwire_modules">["position"];
  /** In the academy's language, as the feed keeps it. */
  module_title: string;
  lesson_id: Row<"tripwire_lessons">["id"] | null;
  outbox_id: string | null;
  language: Language | null;
  currency: string;
};

/**
 * The student's rows (docs/architecture.md, create-tripwire-user) in one statement of one transaction: users,
 * tripwire_users, profile, first module unlocked, progress and video tracking for its first lesson, statistics, the achievements
 * (locked), the manager's activity entry and the queued welcome e-mail.
 */
export function writeStudent(
  tx: Transaction,
  manager: AuthUser,
  student: NewStudent & { id: string; sealedPassword: string | null },
) {
  const sale = activity("user_created", {
    student_email: student.email,
    student_name: student.full_name,
    manager_name: manager.fullName,
    payment_amount: Number(student.payment_amount),
  });
  return tx<WrittenStudent[]>`
    with course as (
      select m.id as module_id, m.position as module_position,
             private.localize(m.title, private.content_language(null)) as module_title,
             (select count(*) from public.tripwire_modules) as total_modules,
             (select l.id from public.tripwire_lessons l
              where l.module_id = m.id order by l.position, l.id limit 1) as lesson_id
      from public.tripwire_modules m
      order by m.position, m.id
      limit 1
    ),
    written as (
      delete from private.pending_logins where user_id = ${student.id}
    ),
    new_user as (
      insert into public.users (id, email, full_name, role)
      values (${student.id}, ${student.email}, ${student.full_name}, 'student')
      returning id
    ),
    student as (
      insert into public.tripwire_users (user_id, email, full_name, phone, granted_by, payment_amount)
      select id, ${student.email}, ${student.full_name}, ${student.phone}, ${manager.id}, ${student.payment_amount}
      from new_user
      returning user_id, created_at
    ),
    profile as (
      insert into public.tripwire_user_profile (user_id, current_module_id, total_modules)
      select s.user_id, c.module_id, c.total_modules from student s cross join course c
    ),
    first_unlock as (
      insert into public.tripwire_module_unlocks (user_id, module_id)
      select s.user_id, c.module_id from student s cross join course c
    ),
    first_progress as (
      insert into public.student_progress (user_id, lesson_id)
      select s.user_id, c.lesson_id from student s cross join course c
    ),
    first_tracking as (
      insert into public.video_tracking (user_id, lesson_id)
      select s.user_id, c.lesson_id from student s cross join course c
    ),
    statistics as (
      insert into public.user_statistics (user_id) select user_id from student
    ),
    locked_achievements as (
      insert into public.user_achievements (user_id, achievement_code)
      select s.user_id, a.code from student s cross join public.achievements a
    ),
    activity as (
      insert into public.sales_activity_log (manager_id, student_id, event_type, details)
      select ${manager.id}, s.user_id, ${sale.type}, ${tx.json(sale.details)}
      from student s
    ),
    smoke_test as (
      insert into private.smoke_tests (student_id)
      select user_id from student where ${student.smoke_test === true}::boolean
    ),
    welcome_email as (
      insert into private.email_outbox (user_id, recipient, template, payload, sealed_password)
      select s.user_id, ${student.email}, 'welcome',
             jsonb_build_object('full_name', ${student.full_name}::text, 'language', a.language),
             ${student.sealedPassword}
      from student s cross join analytics.settings a
      where ${student.send_welcome_email}::boolean
      returning id, payload ->> 'language' as language
    )
    select s.created_at, c.module_id, c.module_position, c.module_title, c.lesson_id,
           (select id::text from welcome_email) as outbox_id, (select language from welcome_email) as language,
           (select a.currency from analytics.settings a) as currency
    from student s cross join course c`;
}

const emailConstraints = ["users_email_key", "tripwire_users_email_key"];

/** Deletes a login no committed student belongs to (an earlier owner of the key crashed mid-way). */
async function deleteAbandonedLogin(deps: CreationDependencies, userId: string): Promise<void> {
  const [student] = await deps.sql`select 1 from public.users where id = ${userId}`;
  if (student) return;
  await deps.authAdmin.deleteUser(userId);
  log("warn", "abandoned_login_deleted", { user_id: userId });
}

/** The compensation. A failure here is logged with the id, never hides the original error. */
async function deleteLogin(deps: CreationDependencies, userId: string, because: unknown): Promise<void> {
  try {
    await deps.authAdmin.deleteUser(userId);
    // The login is gone: its note may go too (if the database cannot be reached, the scheduler does it).
    await deps.sql`delete from private.pending_logins where user_id = ${userId}`.catch(() => {});
  } catch (error) {
    log("error", "compensation_failed", {
      user_id: userId,
      because: toHttpError(because).code,
      error: describeError(error),
    });
  }
}

/** What the scheduler's housekeeping did (private.housekeeping, also a pg_cron job where pg_cron runs). */
export const Housekeeping = z.object({
  expired_idempotency_keys: z.number().int().min(0),
  abandoned_logins_deleted: z.number().int().min(0).meta({
    description: "Logins whose creation never wrote its student (a crash in between), deleted now.",
  }),
  old_emails_purged: z.number().int().min(0).meta({
    description: "Sent or failed e-mails older than 90 days, deleted now (retention).",
  }),
});
export type Housekeeping = z.output<typeof Housekeeping>;

/**
 * The housekeeping: expired idempotency keys (with the sealed passwords they kept), e-mails past their 90 days,
 * and the logins of creations that never wrote their student (a crash in between), 30 seconds after their note.
 */
export async function housekeeping(sql: Sql = db()): Promise<Housekeeping> {
  const [row] = await sql<{ report: unknown }[]>`select private.housekeeping() as report`;
  const report = Housekeeping.parse(row.report);
  if (report.abandoned_logins_deleted > 0) {
    log("warn", "abandoned_logins_deleted", { count: report.abandoned_logins_deleted });
  }
  return report;
}

/**
 * Creates a student for `manager`. With an `idempotencyKey`, a retry returns the first answer and
 * creates nothing; without one, every call is a new sale.
 */
export async function createTripwireUser(
  manager: AuthUser,
  input: NewStudent,
  idempotencyKey?: string,
  deps: CreationDependencies = defaultDependencies(),
  order?: PaidOrder,
): Promise<CreationResult> {
  if (input.smoke_test && manager.role !== "admin") {
    throw new HttpError(403, "forbidden", "Only an admin makes a smoke-test student");
  }
  if (input.smoke_test) input = { ...input, send_welcome_email: false };
  const userId = crypto.randomUUID();
  const keyScope = idempotencyKey
    ? { managerId: manager.id, key: idempotencyKey, userId, hash: requestHash(input) }
    : undefined;

  if (keyScope) {
    const claim = await claimKey(deps.sql, keyScope);
    if (claim.kind === "replay") {
      const { body, status, sealedPassword } = claim.response;
      const password = sealedPassword
        ? await unsealPassword(sealedPassword, replaySealContext(manager.id, keyScope.key)) ?? null
        : null;
      return { status: status as 201, body: { ...body, password } as CreatedStudent, replayed: true };
    }
    if (claim.abandonedUserId) await deleteAbandonedLogin(deps, claim.abandonedUserId);
  }

  try {
    return await createStudent(manager, input, userId, keyScope, deps, order);
  } catch (error) {
    if (keyScope) await releaseKey(deps.sql, keyScope).catch(() => {});
    throw error;
  }
}

type KeyScope = { managerId: string; key: string; userId: string };

interface CreationCheck {
  admitted: boolean;
  /** The admission's time as Postgres wrote it, to give it back if the creation fails. */
  admitted_at: string;
  max_payment_amount: string;
  over_ceiling: boolean;
  per_minute: number;
  wait_seconds: string | null;
  taken: boolean;
}

/**
 * A manager's sale of a named offer: at its price now, or at another amount with a reason. What the audit says
 * of it; undefined for a sale that names no offer.
 */
async function offerNote(sql: Sql, input: NewStudent): Promise<string | undefined> {
  if (!input.offer_id) return undefined;
  const [offer] = await sql<{ price: string | null }[]>`
    select private.offer_price(${input.offer_id}, now())::text as price`;
  if (!offer?.price) throw fieldError("offer_id", "no offer on sale with this id");
  if (offer.price === input.payment_amount) return `Offer ${input.offer_id} at its price ${offer.price}`;
  if (!input.price_reason) {
    throw fieldError("price_reason", `the offer's price is ${offer.price}; another amount needs a reason`);
  }
  return `Offer ${input.offer_id}: ${input.payment_amount} instead of ${offer.price}. ${input.price_reason}`;
}

async function createStudent(
  manager: AuthUser,
  input: NewStudent,
  userId: string,
  keyScope: KeyScope | undefined,
  deps: CreationDependencies,
  order: PaidOrder | undefined,
): Promise<CreationResult> {
  const priceNote = order ? undefined : await offerNote(deps.sql, input);
  // One statement before anything is written: the academy's ceiling on a sale, a cheap early answer for the
  // common duplicate (the unique constraints below remain the guarantee), and this manager's admissions in
  // the last minute. The admission is an upsert on the manager's row in private.creation_admissions: admissions
  // at once wait for each other there and each sees the others' as committed, so the limit holds however many
  // run together. Admitted, it also notes the login about to be made (private.pending_logins), so that a
  // crash before the student is written leaves a login the scheduler deletes, never an orphan. Signed orders are
  // not a person's sales: they share one academy-wide row (providersAdmission) and its generous ceiling.
  const admitter = order ? providersAdmission : manager.id;
  const [check] = await deps.sql<CreationCheck[]>`
    with checks as (
      select s.max_payment_amount, ${input.payment_amount}::numeric > s.max_payment_amount as over_ceiling,
             case when ${order !== undefined}::boolean then s.provider_orders_per_minute
                  else s.student_creations_per_minute end as per_minute,
             exists (select 1 from public.users where email = ${input.email})
               or exists (select 1 from public.tripwire_users where email = ${input.email}) as taken
      from analytics.settings s
    ),
    admission as (
      insert into private.creation_admissions as a (manager_id, admissions)
      select ${admitter}::uuid, array[now()] from checks where not over_ceiling and not taken and per_minute > 0
      on conflict (manager_id) do update
        set admissions = array(
          select t from unnest(a.admissions) t where t > now() - interval '1 minute' order by t
        ) || now()
        where (select count(*) from unnest(a.admissions) t where t > now() - interval '1 minute')
          < (select per_minute from checks)
      returning manager_id
    ),
    pending as (
      insert into private.pending_logins (user_id, manager_id)
      select ${userId}, ${manager.id}::uuid from admission
      returning user_id
    )
    select checks.*, exists (select 1 from pending) as admitted, to_jsonb(now()) #>> '{}' as admitted_at,
           (select extract(epoch from min(t) + interval '1 minute' - now())
            from private.creation_admissions c, unnest(c.admissions) t
            where c.manager_id = ${admitter}::uuid and t > now() - interval '1 minute') as wait_seconds
    from checks`;
  if (check.over_ceiling) {
    throw new HttpError(
      400,
      "validation_failed",
      `payment_amount: at most ${Number(check.max_payment_amount)}`,
      [
        {
          path: "payment_amount",
          message: `at most ${Number(check.max_payment_amount)} (the academy's ceiling)`,
        },
      ],
    );
  }
  if (!check.admitted && !check.taken) {
    throw new HttpError(429, "too_many_creations", `At most ${check.per_minute} new students a minute`, {
      retry_after_seconds: Math.max(1, Math.ceil(Number(check.wait_seconds))),
    });
  }
  if (check.taken) throw emailExists();

  const password = generatePassword();
  let written: Awaited<ReturnType<typeof writeStudentOrDeleteLogin>>;
  let loginId: string;
  try {
    loginId = await createLogin(manager, input, userId, password, deps);
    written = await writeStudentOrDeleteLogin(
      manager,
      input,
      loginId,
      password,
      keyScope,
      deps,
      order,
      priceNote,
    );
  } catch (error) {
    await releaseAdmission(deps.sql, admitter, check.admitted_at).catch(() => {});
    throw error;
  }
  const { created, outboxId, language } = written;
  log("info", "student_created", { user_id: loginId, manager_id: manager.id });
  if (outboxId !== null) {
    created.welcome_email = await sendWelcomeEmail(
      input,
      loginId,
      { outboxId, language },
      password,
      keyScope,
      deps,
    );
  }
  return { status: 201, body: { ...created, password }, replayed: false };
}

/**
 * A creation that failed gives its admission back: nothing was created, so it does not count. The time goes
 * to SQL as text: postgres.js would send a timestamptz parameter through a JS Date, dropping microseconds.
 */
async function releaseAdmission(sql: Sql, managerId: string, admittedAt: string): Promise<void> {
  const [row] = await sql<{ left: number }[]>`
    update private.creation_admissions set admissions = array_remove(admissions, ${admittedAt}::text::timestamptz)
    where manager_id = ${managerId}
    returning cardinality(admissions) as left`;
  if (row?.left === 0) {
    await sql`delete from private.creation_admissions where manager_id = ${managerId} and admissions = '{}'`;
  }
}

/**
 * A login an interrupted creation of this manager's left for this e-mail (made, its student never written, its
 * deletion failed: a crash), taken over for this creation: its note is renewed so the sweep leaves it alone.
 */
async function adoptableLogin(sql: Sql, managerId: string, email: string): Promise<string | null> {
  const [row] = await sql<{ user_id: string }[]>`
    update private.pending_logins p set created_at = now()
    from auth.users a
    where a.id = p.user_id and a.email = ${email} and p.manager_id = ${managerId}
      and not exists (select 1 from public.users u where u.id = p.user_id)
    returning p.user_id`;
  return row?.user_id ?? null;
}

/**
 * The login, first; its id is returned. An answer that is not a clear "no" (timeout, 5xx) may still have
 * created it, and the id is ours, so deleting it by id is always safe. A "taken" that is this manager's own
 * interrupted creation (a crash between the login and the student, its compensation lost too) is adopted
 * with a new password: a retry completes the sale instead of answering `email_exists` for its own login.
 */
async function createLogin(
  manager: AuthUser,
  input: NewStudent,
  userId: string,
  password: string,
  deps: CreationDependencies,
): Promise<string> {
  try {
    await deps.authAdmin.createUser({
      id: userId,
      email: input.email,
      password,
      appMetadata: { role: "student", platform: "tripwire", granted_by: manager.id },
      userMetadata: { full_name: input.full_name, ...(input.phone ? { phone: input.phone } : {}) },
    });
    return userId;
  } catch (error) {
    if (error instanceof HttpError && error.code === "email_exists") {
      // A clear "no": no login was made, so nothing is pending.
      await deps.sql`delete from private.pending_logins where user_id = ${userId}`.catch(() => {});
      const adopted = await adoptableLogin(deps.sql, manager.id, input.email);
      if (adopted) {
        await deps.authAdmin.setPassword(adopted, password);
        log("warn", "interrupted_login_adopted", { user_id: adopted, manager_id: manager.id });
        return adopted;
      }
    } else {
      await deleteLogin(deps, userId, error);
    }
    throw error;
  }
}

/**
 * The student's rows and the stored answer for a retry, in one transaction; if it fails, the login is
 * deleted again, so nothing partial remains.
 */
async function writeStudentOrDeleteLogin(
  manager: AuthUser,
  input: NewStudent,
  userId: string,
  password: string,
  keyScope: KeyScope | undefined,
  deps: CreationDependencies,
  order: PaidOrder | undefined,
  priceNote: string | undefined,
): Promise<{ created: CreatedStudent; outboxId: string | null; language: Language }> {
  const sealedForEmail = input.send_welcome_email
    ? await sealPassword(password, emailSealContext("welcome", userId))
    : null;
  const sealedForReplay = keyScope
    ? await sealPassword(password, replaySealContext(manager.id, keyScope.key))
    : null;
  try {
    return await withTransaction(async (tx) => {
      // The login's note must still be there: once the sweep has taken it (and the login), no student may be
      // written for it. So the sweep may be quick, and a slow creation fails rather than lose its login.
      const [noted] = await tx`select 1 from private.pending_logins where user_id = ${userId} for update`;
      if (!noted) {
        throw new HttpError(503, "service_unavailable", "The login was swept while it waited; retry");
      }
      const [row] = await writeStudent(tx, manager, { ...input, id: userId, sealedPassword: sealedForEmail });
      if (!row || row.lesson_id === null) {
        throw new Error("The course has no module with a lesson: seed tripwire_modules and tripwire_lessons");
      }
      if (order) {
        await tx`
          insert into private.payment_orders (provider, order_id, student_id, amount, currency, transaction_id)
          values (${order.provider}, ${order.orderId}, ${userId}, ${input.payment_amount}, ${order.currency},
                  ${order.transactionId})`;
      }
      await emitEvent(tx, "student.created", userId, { source: order ? "order" : "manager" });
      await audit(tx, {
        actor: order ? paymentProvider : manager,
        action: "student.created",
        studentId: userId,
        ...(order ? { reason: `Paid order ${order.provider}:${order.orderId}` } : {}),
        ...(priceNote ? { reason: priceNote } : {}),
        changes: {
          status: { before: null, after: "active" },
          payment_amount: { before: null, after: input.payment_amount },
          granted_by: { before: null, after: manager.id },
          full_name: { before: null, after: personal },
          email: { before: null, after: personal },
          ...(input.phone ? { phone: { before: null, after: personal } } : {}),
        },
      });
      const body: CreatedStudent = {
        id: userId,
        email: input.email,
        full_name: input.full_name,
        phone: input.phone,
        password: null,
        payment_amount: Number(input.payment_amount),
        currency: row.currency,
        unlocked_module: { id: row.module_id, position: row.module_position, title: row.module_title },
        welcome_email: input.send_welcome_email ? "queued" : "skipped",
        created_at: row.created_at.toISOString(),
      };
      if (keyScope) {
        await completeKey(tx, keyScope, { status: 201, body: { ...body }, sealedPassword: sealedForReplay });
      }
      return { created: body, outboxId: row.outbox_id, language: row.language ?? "ru" };
    }, deps.sql);
  } catch (error) {
    await deleteLogin(deps, userId, error);
    if (isUniqueViolation(error, emailConstraints)) throw emailExists();
    throw error;
  }
}

/**
 * After commit: the welcome e-mail. The student exists whatever the provider says; a refusal leaves
 * the e-mail queued for the scheduler. Returns what the answer says of it.
 */
async function sendWelcomeEmail(
  input: NewStudent,
  userId: string,
  queued: { outboxId: string; language: Language },
  password: string,
  keyScope: KeyScope | undefined,
  deps: CreationDependencies,
): Promise<"sent" | "queued" | "not_configured"> {
  let answer: "sent" | "queued" | "not_configured" = "queued";
  try {
    const outcome = await deliverEmail(
      { ...queued, userId, email: input.email, fullName: input.full_name, template: "welcome" },
      password,
      deps.emailSender,
      deps.sql,
    );
    answer = outcome === "sent" || outcome === "not_configured" ? outcome : "queued";
    if (keyScope && answer !== "queued") await amendStoredResponse(deps.sql, keyScope, answer);
  } catch (error) {
    log("warn", "welcome_email_not_recorded", { user_id: userId, error: describeError(error) });
  }
  return answer;
}

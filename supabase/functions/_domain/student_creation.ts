/**
 * Creating a student (docs/architecture.md, "Creating a student"), all or nothing, for a manager's sale
 * (create-tripwire-user) or a paid order (payments): the academy's checks and this manager's admission, the login
 * through Supabase Auth (student_login.ts), every per-student row in one transaction (student_rows.ts), the login
 * deleted again if that transaction fails, the welcome e-mail after commit.
 */
import { fieldError } from "../_shared/app.ts";
import type { AuthUser } from "../_shared/auth.ts";
import { authAdmin, emailExists } from "../_shared/auth_admin.ts";
import { db, type Sql } from "../_shared/db.ts";
import { HttpError } from "../_shared/errors.ts";
import { describeError, log } from "../_shared/log.ts";
import { deliverEmail, type EmailSender, emailSender, type Language } from "./email.ts";
import { amendStoredResponse, claimKey, releaseKey, requestHash } from "./idempotency.ts";
import { generatePassword, unsealPassword } from "./password.ts";
import type { CreatedStudent, CreationResult, NewStudent, PaidOrder } from "./new_student.ts";
import {
  createLogin,
  deleteAbandonedLogin,
  type LoginDependencies,
  type NotedLogin,
} from "./student_login.ts";
import { type KeyScope, replaySealContext, writeStudentOrDeleteLogin } from "./student_rows.ts";

/** The admissions row of signed paid orders, all providers together (academy.settings.provider_orders_per_minute). */
const providersAdmission = "00000000-0000-0000-0000-000000000000";

/** What a creation reaches: the database, Auth's admin API and the e-mail provider (tests give their own). */
export interface CreationDependencies extends LoginDependencies {
  emailSender: EmailSender;
}

const defaultDependencies = (): CreationDependencies => ({
  sql: db(),
  authAdmin: authAdmin(),
  emailSender: emailSender(),
});

/** How a student is created beyond who sells and what. */
export interface CreationOptions {
  /** A retry with the same key returns the first answer and creates nothing; without one, every call is a sale. */
  idempotencyKey?: string;
  /** The paid order the student comes from (payments). */
  order?: PaidOrder;
  deps?: CreationDependencies;
}

/** Creates a student for `manager` (the seller credited with the sale). */
export async function createTripwireUser(
  manager: AuthUser,
  input: NewStudent,
  { idempotencyKey, order, deps = defaultDependencies() }: CreationOptions = {},
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

interface CreationCheck {
  admitted: boolean;
  /**
   * The admission's time as Postgres wrote it, to give it back if the creation fails; the login's note has the
   * same time, this creation's claim on the login (student_login.ts, NotedLogin).
   */
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
      from academy.settings s
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
  let login: NotedLogin;
  try {
    login = await createLogin(manager, input, { userId, notedAt: check.admitted_at }, password, deps);
    written = await writeStudentOrDeleteLogin({
      manager,
      input,
      login,
      password,
      keyScope,
      deps,
      order,
      priceNote,
    });
  } catch (error) {
    await releaseAdmission(deps.sql, admitter, check.admitted_at).catch(() => {});
    throw error;
  }
  const { created, outboxId, language } = written;
  log("info", "student_created", { user_id: login.userId, manager_id: manager.id });
  if (outboxId !== null) {
    created.welcome_email = await sendWelcomeEmail(
      input,
      login.userId,
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

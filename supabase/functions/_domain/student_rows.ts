/**
 * The student's rows (docs/architecture.md, "Creating a student"): every per-student row in one statement, and
 * with them the paid order, the event, the audit entry and the stored answer for a retry, in one transaction.
 */
import { audit, paymentProvider, personal } from "./audit.ts";
import { emitEvent } from "./events.ts";
import { activity } from "./activity.ts";
import { completeKey } from "./idempotency.ts";
import { sealPassword } from "./password.ts";
import { emailSealContext, type Language } from "./email.ts";
import { deleteLogin, type LoginDependencies, type NotedLogin } from "./student_login.ts";
import type { CreatedStudent, NewStudent, PaidOrder } from "./new_student.ts";
import type { AuthUser } from "../_shared/auth.ts";
import { type Row, type Transaction, withTransaction } from "../_shared/db.ts";
import { HttpError, isUniqueViolation } from "../_shared/errors.ts";
import { emailExists } from "../_shared/auth_admin.ts";

/** An Idempotency-Key's scope: the manager's key, and the student it makes. */
export type KeyScope = { managerId: string; key: string; userId: string };

/** What a stored answer's password is sealed to: only a retry with the same manager and key unseals it. */
export const replaySealContext = (managerId: string, key: string) => `idempotency:${managerId}:${key}`;

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
      from student s cross join academy.settings a
      where ${student.send_welcome_email}::boolean
      returning id, payload ->> 'language' as language
    )
    select s.created_at, c.module_id, c.module_position, c.module_title, c.lesson_id,
           (select id::text from welcome_email) as outbox_id, (select language from welcome_email) as language,
           (select a.currency from academy.settings a) as currency
    from student s cross join course c`;
}

const emailConstraints = ["users_email_key", "tripwire_users_email_key"];

/** One creation's student, as writeStudentOrDeleteLogin writes it. */
export interface StudentWrite {
  manager: AuthUser;
  input: NewStudent;
  /** The login and its note: the student's rows take the login's id, while the note is still this creation's. */
  login: NotedLogin;
  password: string;
  keyScope?: KeyScope;
  deps: LoginDependencies;
  /** The paid order the student comes from (none for a manager's sale). */
  order?: PaidOrder;
  /** What the audit says of the price (an offer's, or another with its reason). */
  priceNote?: string;
}

/**
 * The student's rows and the stored answer for a retry, in one transaction; if it fails, the login is
 * deleted again, so nothing partial remains.
 */
export async function writeStudentOrDeleteLogin(
  { manager, input, login, password, keyScope, deps, order, priceNote }: StudentWrite,
): Promise<{ created: CreatedStudent; outboxId: string | null; language: Language }> {
  const { userId } = login;
  const sealedForEmail = input.send_welcome_email
    ? await sealPassword(password, emailSealContext("welcome", userId))
    : null;
  const sealedForReplay = keyScope
    ? await sealPassword(password, replaySealContext(manager.id, keyScope.key))
    : null;
  try {
    return await withTransaction(async (tx) => {
      // The login's note must still be there as this creation wrote it: once the sweep has taken it (and the
      // login), or another request of this manager's has adopted the login, no student may be written for it
      // here. So the sweep may be quick, and a slow creation fails rather than lose its login or write a second
      // student's rows. Adopted, the student is (or is about to be) the other request's: the address is taken.
      const [noted] = await tx<{ ours: boolean }[]>`
        select created_at = ${login.notedAt}::text::timestamptz as ours
        from private.pending_logins where user_id = ${userId}
        for update`;
      if (!noted?.ours) {
        const [written] = await tx`select 1 from public.users where id = ${userId}`;
        if (noted || written) throw emailExists();
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
    await deleteLogin(deps, login, error);
    if (isUniqueViolation(error, emailConstraints)) throw emailExists();
    throw error;
  }
}

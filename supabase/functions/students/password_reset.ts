/**
 * A lost password (docs/architecture.md, students): a new generated one for one of the caller's students, set on
 * the login, e-mailed sealed, never stored in plain text.
 */
import { z } from "zod";
import { activity, logActivity } from "../_domain/activity.ts";
import { audit, secret } from "../_domain/audit.ts";
import {
  deliverEmail,
  emailSealContext,
  type EmailSender,
  emailSender,
  type Language,
} from "../_domain/email.ts";
import { generatePassword, sealPassword } from "../_domain/password.ts";
import { scopeOf, studentNotFound } from "../_domain/student_summary.ts";
import type { AuthUser } from "../_shared/auth.ts";
import { type AuthAdmin, authAdmin } from "../_shared/auth_admin.ts";
import { db, type Row, type Sql, withTransaction } from "../_shared/db.ts";
import { describeError, log } from "../_shared/log.ts";

export const PasswordReset = z.object({
  id: z.uuid(),
  password: z.string().meta({ description: "The new password, shown once (and e-mailed to the student)." }),
  email: z.enum(["sent", "queued", "not_configured"]).meta({
    description: "`queued`: the provider refused for now; retried. `not_configured`: no e-mail provider " +
      "(RESEND_API_KEY); the e-mail waits until one is set up.",
  }),
}).meta({ id: "PasswordReset" });
export type PasswordReset = z.output<typeof PasswordReset>;

export interface ResetDependencies {
  sql: Sql;
  authAdmin: AuthAdmin;
  emailSender: EmailSender;
}

/**
 * A new generated password for one of the caller's students: the login gets it first (the old one stops
 * working), then the e-mail is queued sealed with the feed entry in one transaction, and sent after commit.
 * Never stored in plain text.
 */
export async function resetPassword(
  caller: AuthUser,
  studentId: string,
  deps: ResetDependencies = { sql: db(), authAdmin: authAdmin(), emailSender: emailSender() },
): Promise<PasswordReset> {
  const scope = scopeOf(caller, undefined);
  const [student] = await deps.sql<
    Pick<Row<"tripwire_users">, "user_id" | "email" | "full_name" | "granted_by">[]
  >`
    select t.user_id, t.email, t.full_name, t.granted_by from public.tripwire_users t
    where t.user_id = ${studentId} and (${scope}::uuid is null or t.granted_by = ${scope}::uuid)`;
  if (!student) throw studentNotFound();

  const password = generatePassword();
  await deps.authAdmin.setPassword(studentId, password);
  const sealed = await sealPassword(password, emailSealContext("password_reset", studentId));
  const queued = await withTransaction(async (tx) => {
    const [row] = await tx<{ outbox_id: string; language: Language }[]>`
      insert into private.email_outbox (user_id, recipient, template, payload, sealed_password)
      select ${studentId}, ${student.email}, 'password_reset',
             jsonb_build_object('full_name', ${student.full_name}::text, 'language', a.language), ${sealed}
      from academy.settings a
      returning id::text as outbox_id, payload ->> 'language' as language`;
    await logActivity(
      tx,
      student.granted_by,
      studentId,
      activity("password_reset", { student_name: student.full_name }),
    );
    await audit(tx, {
      actor: caller,
      action: "student.password_reset",
      studentId,
      changes: { password: { before: secret, after: secret } },
    });
    return row;
  }, deps.sql);

  let email: "sent" | "queued" | "not_configured" = "queued";
  try {
    const outcome = await deliverEmail(
      {
        outboxId: queued.outbox_id,
        userId: studentId,
        email: student.email,
        fullName: student.full_name,
        template: "password_reset",
        language: queued.language,
      },
      password,
      deps.emailSender,
      deps.sql,
    );
    email = outcome === "sent" || outcome === "not_configured" ? outcome : "queued";
  } catch (error) {
    log("warn", "reset_email_not_recorded", { user_id: studentId, error: describeError(error) });
  }
  return { id: studentId, password, email };
}

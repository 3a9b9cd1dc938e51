/**
 * The student's login in Supabase Auth, made before the student's rows (student_creation.ts) and deleted again
 * when they cannot be written: a creation never leaves a login without a student, nor a student without a login.
 */
import type { Sql } from "../_shared/db.ts";
import { HttpError, toHttpError } from "../_shared/errors.ts";
import { describeError, log } from "../_shared/log.ts";
import type { AuthUser } from "../_shared/auth.ts";
import type { AuthAdmin } from "../_shared/auth_admin.ts";
import type { NewStudent } from "./new_student.ts";

/** What making and removing a login needs: the database (for its notes) and Auth's admin API. */
export interface LoginDependencies {
  sql: Sql;
  authAdmin: AuthAdmin;
}

/** Deletes a login no committed student belongs to (an earlier owner of the key crashed mid-way). */
export async function deleteAbandonedLogin(deps: LoginDependencies, userId: string): Promise<void> {
  const [student] = await deps.sql`select 1 from public.users where id = ${userId}`;
  if (student) return;
  await deps.authAdmin.deleteUser(userId);
  log("warn", "abandoned_login_deleted", { user_id: userId });
}

/** The compensation. A failure here is logged with the id, never hides the original error. */
export async function deleteLogin(deps: LoginDependencies, userId: string, because: unknown): Promise<void> {
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
export async function createLogin(
  manager: AuthUser,
  input: NewStudent,
  userId: string,
  password: string,
  deps: LoginDependencies,
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

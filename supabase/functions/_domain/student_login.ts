/**
 * The student's login in Supabase Auth, made before the student's rows (student_creation.ts) and deleted again
 * when they cannot be written: a creation never leaves a login without a student, nor a student without a login.
 */
import { type Sql, withTransaction } from "../_shared/db.ts";
import { HttpError, isDatabaseUnavailable, toHttpError } from "../_shared/errors.ts";
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

/**
 * A login's note (private.pending_logins) as one creation wrote it: the login's id and the note's time. Only the
 * creation that wrote the note knows that time, so it is the creation's claim on the login: a retry that adopts the
 * login renews the time, and the first creation then neither writes a student for it nor deletes it.
 */
export interface NotedLogin {
  userId: string;
  /** The note's created_at as Postgres wrote it (text, to keep its microseconds). */
  notedAt: string;
}

/**
 * The compensation: the login is deleted while its note is still this creation's, the note locked meanwhile so no
 * other request adopts a login being deleted; then the note goes. A login another request adopted, or whose
 * student exists, is left alone. If Auth cannot delete it now, the note stays and the scheduler's sweep (or a
 * retry that adopts it) deals with it; if the database cannot be reached, the login is deleted all the same
 * (nothing can adopt it then). A failure here is logged with the id, never hides the original error.
 */
export async function deleteLogin(
  deps: LoginDependencies,
  note: NotedLogin,
  because: unknown,
): Promise<void> {
  try {
    await withTransaction(async (tx) => {
      const [row] = await tx<{ ours: boolean | null; written: boolean }[]>`
        select (select created_at = ${note.notedAt}::text::timestamptz from private.pending_logins
                where user_id = ${note.userId} for update) as ours,
               exists (select 1 from public.users where id = ${note.userId}) as written`;
      // Adopted by another request (its time on the note), or the note gone with its student written.
      if (row.ours === false || (row.ours === null && row.written)) return;
      await deps.authAdmin.deleteUser(note.userId);
      await tx`delete from private.pending_logins where user_id = ${note.userId}`;
    }, deps.sql).catch(async (error) => {
      if (!isDatabaseUnavailable(error)) throw error;
      await deps.authAdmin.deleteUser(note.userId);
    });
  } catch (error) {
    log("error", "compensation_failed", {
      user_id: note.userId,
      because: toHttpError(because).code,
      error: describeError(error),
    });
  }
}

/**
 * Adopts a login an interrupted creation of this manager's left for this e-mail (made, its student never written: a
 * crash, a database gone mid-way, its deletion failed too) and gives it `password`. Its note gets this creation's
 * time, so the sweep leaves it alone, and the interrupted creation — if it still runs (two requests of this
 * manager racing for one e-mail look the same from here) — finds its claim gone: it answers `email_exists` and
 * leaves the login to this one. The note stays locked while the password is set, so of several adopters the
 * last to claim the login is the last to set its password; a compensation deleting the login holds the same lock.
 */
async function adoptLogin(
  deps: LoginDependencies,
  managerId: string,
  email: string,
  password: string,
): Promise<NotedLogin | null> {
  return await withTransaction(async (tx) => {
    const [row] = await tx<NotedLogin[]>`
      update private.pending_logins p set created_at = clock_timestamp()
      from auth.users a
      where a.id = p.user_id and a.email = ${email} and p.manager_id = ${managerId}
        and not exists (select 1 from public.users u where u.id = p.user_id)
      returning p.user_id as "userId", to_jsonb(p.created_at) #>> '{}' as "notedAt"`;
    if (row) await deps.authAdmin.setPassword(row.userId, password);
    return row ?? null;
  }, deps.sql);
}

/**
 * The login, first; its note is returned. An answer that is not a clear "no" (timeout, 5xx) may still have
 * created it, and the id is ours, so deleting it by id is always safe. A "taken" that is this manager's own
 * interrupted creation (a crash between the login and the student) is adopted with a new password: a retry
 * completes the sale instead of answering `email_exists` for its own login.
 */
export async function createLogin(
  manager: AuthUser,
  input: NewStudent,
  note: NotedLogin,
  password: string,
  deps: LoginDependencies,
): Promise<NotedLogin> {
  try {
    await deps.authAdmin.createUser({
      id: note.userId,
      email: input.email,
      password,
      appMetadata: { role: "student", platform: "tripwire", granted_by: manager.id },
      userMetadata: { full_name: input.full_name, ...(input.phone ? { phone: input.phone } : {}) },
    });
    return note;
  } catch (error) {
    if (error instanceof HttpError && error.code === "email_exists") {
      // A clear "no": no login was made, so nothing is pending.
      await deps.sql`delete from private.pending_logins where user_id = ${note.userId}`.catch(() => {});
      const adopted = await adoptLogin(deps, manager.id, input.email, password);
      if (adopted) {
        log("warn", "interrupted_login_adopted", { user_id: adopted.userId, manager_id: manager.id });
        return adopted;
      }
    } else {
      await deleteLogin(deps, note, error);
    }
    throw error;
  }
}

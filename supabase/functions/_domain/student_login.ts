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
 * The compensation: the login is deleted while its note is still this creation's (the note is first marked given
 * up, which no retry adopts; if Auth cannot delete the login now, the scheduler's sweep does). A login a retry has
 * adopted, or whose student exists, is left alone. A failure here is logged with the id, never hides the original
 * error.
 */
export async function deleteLogin(
  deps: LoginDependencies,
  note: NotedLogin,
  because: unknown,
): Promise<void> {
  try {
    if (await stillOurs(deps.sql, note)) {
      await deps.authAdmin.deleteUser(note.userId);
      // The login is gone: its note may go too (if the database cannot be reached, the scheduler does it).
      await deps.sql`delete from private.pending_logins where user_id = ${note.userId}`.catch(() => {});
    }
  } catch (error) {
    log("error", "compensation_failed", {
      user_id: note.userId,
      because: toHttpError(because).code,
      error: describeError(error),
    });
  }
}

/**
 * True when this creation may delete its login: its note is still as it wrote it (now marked given up), or the note
 * is gone with no student (the sweep took it, and the login with it). False when a retry adopted the login or its
 * student was written. If the database cannot answer, the login is deleted as before: nothing can adopt it then.
 */
async function stillOurs(sql: Sql, note: NotedLogin): Promise<boolean> {
  try {
    const [row] = await sql<{ ours: boolean; noted: boolean; written: boolean }[]>`
      with ours as (
        update private.pending_logins set created_at = '-infinity'
        where user_id = ${note.userId} and created_at = ${note.notedAt}::text::timestamptz
        returning 1
      )
      select exists (select 1 from ours) as ours,
             exists (select 1 from private.pending_logins where user_id = ${note.userId}) as noted,
             exists (select 1 from public.users where id = ${note.userId}) as written`;
    return row.ours || (!row.noted && !row.written);
  } catch {
    return true;
  }
}

/** How long a creation may take between its note and its student before a retry may adopt its login. */
const inFlightSeconds = 10;

/**
 * A login an interrupted creation of this manager's left for this e-mail (made, its student never written, the
 * creation gone: a crash), taken over for this creation: its note gets this creation's time, so the sweep leaves it
 * alone and the interrupted creation, if it still runs, gives it up. A note younger than `inFlightSeconds` is a
 * creation still running (two requests racing for one e-mail), never adopted; nor is one its creation gave up.
 */
async function adoptableLogin(sql: Sql, managerId: string, email: string): Promise<NotedLogin | null> {
  const [row] = await sql<NotedLogin[]>`
    update private.pending_logins p set created_at = now()
    from auth.users a
    where a.id = p.user_id and a.email = ${email} and p.manager_id = ${managerId}
      and p.created_at > '-infinity' and p.created_at < now() - make_interval(secs => ${inFlightSeconds})
      and not exists (select 1 from public.users u where u.id = p.user_id)
    returning p.user_id as "userId", to_jsonb(p.created_at) #>> '{}' as "notedAt"`;
  return row ?? null;
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
      const adopted = await adoptableLogin(deps.sql, manager.id, input.email);
      if (adopted) {
        await deps.authAdmin.setPassword(adopted.userId, password);
        log("warn", "interrupted_login_adopted", { user_id: adopted.userId, manager_id: manager.id });
        return adopted;
      }
    } else {
      await deleteLogin(deps, note, error);
    }
    throw error;
  }
}

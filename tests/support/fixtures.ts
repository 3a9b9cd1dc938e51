/**
 * Named people for the stories, and students written straight into the database (as the product writes
 * them) where a story is not about creating one; create-tripwire-user's own tests go through HTTP.
 */
import type postgres from "postgres";
import { loadCaller } from "../../supabase/functions/_shared/auth.ts";
import { asCaller } from "../../supabase/functions/_shared/db.ts";
import { openSession } from "../../scripts/lib/local_stack.ts";
import { writeStudent } from "../../supabase/functions/_domain/student_rows.ts";

export const saule = { id: "a0000000-0000-4000-8000-000000000001", email: "saule.admin@tripwire.local" };
export const aida = { id: "a0000000-0000-4000-8000-000000000002", email: "aida.manager@tripwire.local" };
export const daniyar = {
  id: "a0000000-0000-4000-8000-000000000003",
  email: "daniyar.manager@tripwire.local",
};

/** Another manager, made as the admin would: a login and a `users` row with role manager. */
export async function insertManager(sql: postgres.Sql, fullName: string): Promise<{ id: string }> {
  const id = crypto.randomUUID();
  const email = `${fullName.toLowerCase().replace(/\W+/g, ".")}.${id.slice(0, 8)}@tripwire.local`;
  await sql.begin(async (tx) => {
    await tx`
      insert into auth.users (id, aud, role, email, encrypted_password, created_at, updated_at)
      values (${id}, 'authenticated', 'authenticated', ${email}, '', now(), now())`;
    await tx`insert into public.users (id, email, full_name, role) values (${id}, ${email}, ${fullName}, 'manager')`;
  });
  return { id };
}

/** The tables that hold a row (or rows) per student, keyed by `user_id`. */
export const studentTables = [
  "tripwire_users",
  "tripwire_user_profile",
  "tripwire_module_unlocks",
  "student_progress",
  "video_tracking",
  "user_statistics",
  "user_achievements",
  "certificates",
];

export interface Student {
  id: string;
  email: string;
}

/**
 * A student of `managerId`'s, written exactly as create-tripwire-user writes one (its `writeStudent`,
 * the product's one definition of a student's rows), with a login row but no password and no e-mail.
 */
export async function insertStudent(
  sql: postgres.Sql,
  options: { managerId: string; email: string; fullName: string; paymentAmount?: string },
): Promise<Student> {
  const id = crypto.randomUUID();
  const manager = await loadCaller(
    { sub: options.managerId, session_id: await openSession(sql, options.managerId) },
    sql,
  );
  await sql.begin(async (tx) => {
    await tx`
      insert into auth.users (id, aud, role, email, encrypted_password, raw_app_meta_data, created_at, updated_at)
      values (${id}, 'authenticated', 'authenticated', ${options.email}, '', '{"role":"student"}', now(), now())`;
    await writeStudent(tx, manager, {
      id,
      email: options.email,
      full_name: options.fullName,
      phone: null,
      payment_amount: options.paymentAmount ?? "490.00",
      send_welcome_email: false,
      sealedPassword: null,
    });
  });
  return { id, email: options.email };
}

/**
 * Runs `query` as an API role with the given claims (the functions' `asCaller`), then rolls back. A subject
 * without a `session_id` is signed in first (a session opened for it, as Supabase Auth's sign-in does).
 */
export async function asRole<T>(
  sql: postgres.Sql,
  role: "anon" | "authenticated",
  claims: { sub?: string; session_id?: string },
  query: (tx: postgres.TransactionSql) => Promise<T>,
): Promise<T> {
  let result: T | undefined;
  const caller = role === "anon" || !claims.sub
    ? "anon"
    : { sub: claims.sub, session_id: claims.session_id ?? await openSession(sql, claims.sub) };
  await asCaller(caller, async (tx) => {
    result = await query(tx);
    // Roll back: nothing a read test does should stay.
    throw new Rollback();
  }, sql).catch((error) => {
    if (!(error instanceof Rollback)) throw error;
  });
  return result as T;
}

class Rollback extends Error {}

/**
 * Named people for the stories. Students are written straight into the tables here so that the
 * foundation can be tested before create-tripwire-user exists; its own tests go through HTTP.
 */
import type postgres from "postgres";
import { asCaller } from "../../supabase/functions/_shared/db.ts";

export const saule = { id: "a0000000-0000-4000-8000-000000000001", email: "saule.admin@tripwire.local" };
export const aida = { id: "a0000000-0000-4000-8000-000000000002", email: "aida.manager@tripwire.local" };
export const daniyar = {
  id: "a0000000-0000-4000-8000-000000000003",
  email: "daniyar.manager@tripwire.local",
};

export interface Student {
  id: string;
  email: string;
}

/** Inserts a student granted by `managerId`, with a row in every per-student table. */
export async function insertStudent(
  sql: postgres.Sql,
  options: { managerId: string; email: string; fullName: string },
): Promise<Student> {
  const id = crypto.randomUUID();
  await sql.begin(async (tx) => {
    await tx`
      insert into auth.users (id, aud, role, email, encrypted_password, raw_app_meta_data, created_at, updated_at)
      values (${id}, 'authenticated', 'authenticated', ${options.email}, '', '{"role":"student"}', now(), now())`;
    await tx`
      insert into public.users (id, email, full_name, role)
      values (${id}, ${options.email}, ${options.fullName}, 'student')`;
    await tx`
      insert into public.tripwire_users (user_id, email, full_name, granted_by, payment_amount)
      values (${id}, ${options.email}, ${options.fullName}, ${options.managerId}, 490)`;
    await tx`
      insert into public.tripwire_user_profile (user_id, current_module_id, total_modules)
      select ${id}, min(id), count(*) from public.tripwire_modules`;
    await tx`
      insert into public.tripwire_module_unlocks (user_id, module_id)
      select ${id}, id from public.tripwire_modules order by position limit 1`;
    await tx`insert into public.student_progress (user_id, lesson_id) values (${id}, 67)`;
    await tx`insert into public.video_tracking (user_id, lesson_id) values (${id}, 67)`;
    await tx`insert into public.user_statistics (user_id) values (${id})`;
    await tx`
      insert into public.user_achievements (user_id, achievement_code)
      select ${id}, code from public.achievements`;
    await tx`
      insert into public.certificates (user_id, certificate_number, full_name, course)
      values (${id}, ${`TW-2026-${String(Math.floor(Math.random() * 1e6)).padStart(6, "0")}`},
              ${options.fullName}, '{}')`;
    await tx`
      insert into public.sales_activity_log (manager_id, student_id, event_type, details)
      values (${options.managerId}, ${id}, 'user_created', ${tx.json({ full_name: options.fullName })})`;
  });
  return { id, email: options.email };
}

/** Runs `query` as an API role with the given claims (the functions' `asCaller`), then rolls back. */
export async function asRole<T>(
  sql: postgres.Sql,
  role: "anon" | "authenticated",
  claims: { sub?: string },
  query: (tx: postgres.TransactionSql) => Promise<T>,
): Promise<T> {
  let result: T | undefined;
  const caller = role === "anon" || !claims.sub ? "anon" : { sub: claims.sub };
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

/**
 * `npm run bootstrap -- --admin <email> --name "<full name>" [--course supabase/course.json]`: day one on a
 * real project, after `supabase db push`. Loads the course from its content file (scripts/lib/course.ts: the
 * course, modules and lessons with their durations, thresholds and video URLs, the achievements, every text
 * in Russian and English), then creates the first admin with a
 * generated password, printed once. Idempotent: run again, it updates the course and leaves an existing admin
 * as they are.
 *
 * The environment says where: SUPABASE_DB_URL (or DATABASE_URL), the direct connection `db push` uses; and
 * for the login, Supabase Auth's admin API with SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (or
 * SUPABASE_SECRET_KEYS) — locally, `npm start`'s (http://127.0.0.1:54321 and its secret key).
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { db } from "../supabase/functions/_shared/db.ts";
import { personName } from "../supabase/functions/_shared/input.ts";
import { createStaff } from "../supabase/functions/staff/staff.ts";
import { loadCourse, readCourse } from "./lib/course.ts";

if (import.meta.main) {
  // The functions' configuration wants the e-mails' sign-in link deployed; the bootstrap sends no e-mail (the
  // admin's password is printed here), so it needs none and a run without it is not refused.
  if (!Deno.env.get("APP_LOGIN_URL")) {
    Deno.env.set("APP_LOGIN_URL", "https://bootstrap.invalid/sends-no-email");
  }
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      admin: { type: "string" },
      name: { type: "string" },
      course: { type: "string", default: "supabase/course.json" },
    },
  });
  const email = z.email().safeParse(values.admin?.trim().toLowerCase());
  const name = personName.safeParse(values.name ?? "");
  if (!email.success || !name.success) {
    console.error('usage: npm run bootstrap -- --admin <email> --name "<full name>" [--course <file>]');
    Deno.exit(2);
  }
  try {
    const loaded = await loadCourse(db(), await readCourse(values.course!));
    console.log(`course: ${loaded.modules} modules, ${loaded.lessons} lessons from ${values.course}`);
    const [existing] = await db()<
      { role: string }[]
    >`select role from public.users where email = ${email.data}`;
    if (existing) {
      console.log(`admin: ${email.data} exists already (${existing.role}); nothing changed`);
    } else {
      const admin = await createStaff(null, { email: email.data, full_name: name.data, role: "admin" });
      console.log(`admin: ${admin.email} created (id ${admin.id})`);
      console.log(`password: ${admin.password}`);
      console.log("The password is shown only here: sign in with it, then change it.");
    }
  } catch (error) {
    console.error(`bootstrap failed: ${error instanceof Error ? error.message : error}`);
    Deno.exitCode = 1;
  } finally {
    await db().end();
  }
}

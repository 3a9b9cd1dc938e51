/**
 * `npm run bootstrap -- --admin <email> --name "<full name>" [--course supabase/course.json]`: day one on a
 * real project, after `supabase db push`. Loads the course from its content file (modules and lessons with
 * their durations, thresholds, video URLs, titles in Russian and English), then creates the first admin with a
 * generated password, printed once. Idempotent: run again, it updates the course and leaves an existing admin
 * as they are.
 *
 * The environment says where: SUPABASE_DB_URL (or DATABASE_URL), the direct connection `db push` uses; and
 * for the login, Supabase Auth's admin API with SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (or
 * SUPABASE_SECRET_KEYS) — or AUTH_ADMIN=local, the local stack's own `auth` schema.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { db } from "../supabase/functions/_shared/db.ts";
import { personName } from "../supabase/functions/_shared/input.ts";
import { createStaff } from "../supabase/functions/staff/staff.ts";

const Titles = z.strictObject({ ru: z.string().min(1).max(200), en: z.string().min(1).max(200) });

/** The course content file's shape. */
export const Course = z.strictObject({
  modules: z.array(z.strictObject({
    id: z.number().int().positive(),
    position: z.number().int().positive(),
    title: Titles,
    lessons: z.array(z.strictObject({
      id: z.number().int().positive(),
      position: z.number().int().positive(),
      title: Titles,
      video_duration_seconds: z.number().int().positive(),
      min_watch_percentage: z.number().min(1).max(100).default(80),
      video_url: z.url(),
    })).min(1),
  })).min(1),
});
export type Course = z.output<typeof Course>;

/**
 * Upserts the course in one transaction, titles in the academy's language (analytics.settings.language).
 * Returns how many modules and lessons it holds.
 */
export async function loadCourse(course: Course): Promise<{ modules: number; lessons: number }> {
  const sql = db();
  await sql.begin(async (tx) => {
    const [{ language }] = await tx<{ language: "ru" | "en" }[]>`select language from analytics.settings`;
    for (const module of course.modules) {
      await tx`
        insert into public.tripwire_modules (id, position, title)
        values (${module.id}, ${module.position}, ${module.title[language]})
        on conflict (id) do update set position = excluded.position, title = excluded.title`;
      for (const lesson of module.lessons) {
        await tx`
          insert into public.tripwire_lessons
            (id, module_id, position, title, video_duration_seconds, min_watch_percentage, video_url)
          values (${lesson.id}, ${module.id}, ${lesson.position}, ${lesson.title[language]},
                  ${lesson.video_duration_seconds}, ${lesson.min_watch_percentage}, ${lesson.video_url})
          on conflict (id) do update
            set module_id = excluded.module_id, position = excluded.position, title = excluded.title,
                video_duration_seconds = excluded.video_duration_seconds,
                min_watch_percentage = excluded.min_watch_percentage, video_url = excluded.video_url`;
      }
    }
    // The identity sequences stay ahead of the ids the file gives.
    await tx`select setval(pg_get_serial_sequence('public.tripwire_modules', 'id'),
                           (select max(id) from public.tripwire_modules))`;
    await tx`select setval(pg_get_serial_sequence('public.tripwire_lessons', 'id'),
                           (select max(id) from public.tripwire_lessons))`;
  });
  return {
    modules: course.modules.length,
    lessons: course.modules.reduce((sum, module) => sum + module.lessons.length, 0),
  };
}

if (import.meta.main) {
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
    const course = Course.parse(JSON.parse(await Deno.readTextFile(values.course!)));
    const loaded = await loadCourse(course);
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

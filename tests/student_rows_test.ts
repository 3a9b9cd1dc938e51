import assert from "node:assert/strict";
import { writeManagers, writeStudents } from "../scripts/lib/scale_data.ts";
import { activityDetails, type ActivityType } from "../supabase/functions/_domain/activity.ts";
import { CertificateCourse } from "../supabase/functions/complete-lesson/certificate_check.ts";
import { createMigratedDatabase } from "./support/database.ts";
import { aida, insertStudent, studentTables } from "./support/fixtures.ts";

/** The tables with a student's rows: `users` and the per-student tables. */
const tablesOfAStudent = ["users", ...studentTables];

Deno.test({
  name: "the test fixtures and the scale generator write a student as the product defines one",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const database = await createMigratedDatabase();
    const { sql } = database;
    const rowsOf = async (userId: string) => {
      const counts: Record<string, number> = {};
      for (const table of tablesOfAStudent) {
        const column = table === "users" ? "id" : "user_id";
        const [row] = await sql<{ count: number }[]>`
          select count(*)::int as count from ${sql("public." + table)} where ${sql(column)} = ${userId}`;
        counts[table] = row.count;
      }
      const [feed] = await sql<{ count: number }[]>`
        select count(*)::int as count from public.sales_activity_log where student_id = ${userId}`;
      counts.sales_activity_log = feed.count;
      return counts;
    };
    try {
      // A fresh student as create-tripwire-user writes one (the fixtures call its writeStudent).
      const fresh = await insertStudent(sql, {
        managerId: aida.id,
        email: "fresh@example.kz",
        fullName: "Fresh",
      });
      const product = await rowsOf(fresh.id);
      const [{ achievements, firstModuleLessons }] = await sql<
        { achievements: number; firstModuleLessons: number }[]
      >`
        select (select count(*)::int from public.achievements) as achievements,
               (select count(*)::int from public.tripwire_lessons l
                where l.module_id = (select id from public.tripwire_modules order by position limit 1))
                 as "firstModuleLessons"`;

      await t.step("the product's fresh student: the ten writes, no certificate", () => {
        assert.deepEqual(product, {
          users: 1,
          tripwire_users: 1,
          tripwire_user_profile: 1,
          tripwire_module_unlocks: 1,
          student_progress: firstModuleLessons,
          video_tracking: firstModuleLessons,
          user_statistics: 1,
          user_achievements: achievements,
          certificates: 0,
          sales_activity_log: 1,
        });
      });

      await writeManagers(sql, 3, 7);
      await writeStudents(sql, { from: 0, to: 60, managers: 3, seed: 7 });
      const scale = await sql<{ id: string; unlocked: number; done: number; lessons: number }[]>`
        select t.user_id as id,
               (select count(*)::int from public.tripwire_module_unlocks u where u.user_id = t.user_id) as unlocked,
               (select count(*)::int from public.tripwire_module_unlocks u
                where u.user_id = t.user_id and u.completed_at is not null) as done,
               (select count(*)::int from public.tripwire_lessons l join public.tripwire_module_unlocks u
                  on u.module_id = l.module_id and u.user_id = t.user_id) as lessons
        from public.tripwire_users t where t.email like 'student.7.%'`;
      assert.equal(scale.length, 60);

      await t.step("each scale student has the product's rows for how far they got", async () => {
        const [{ modules }] = await sql<{ modules: number }[]>`
          select count(*)::int as modules from public.tripwire_modules`;
        for (const student of scale) {
          const finished = student.done === modules;
          assert.deepEqual(await rowsOf(student.id), {
            ...product,
            tripwire_module_unlocks: student.unlocked,
            student_progress: student.lessons,
            video_tracking: student.lessons,
            certificates: finished ? 1 : 0,
            // The sale, every completed lesson, every module unlocked after the first, the certificate.
            sales_activity_log: 1 + (await completedLessons(student.id)) + (student.unlocked - 1) +
              (finished ? 1 : 0),
          }, student.id);
        }
      });

      await t.step("every feed event carries the details its type defines", async () => {
        const events = await sql<{ event_type: ActivityType; details: unknown }[]>`
          select event_type, details from public.sales_activity_log`;
        const types = new Set(events.map((event) => event.event_type));
        // Every type of a student's way through the course; refunds and suspensions are the students stories'.
        for (const type of ["user_created", "lesson_completed", "module_unlocked", "certificate_issued"]) {
          assert.ok(types.has(type as ActivityType), type);
        }
        for (const event of events) {
          const schema = activityDetails[event.event_type].strict();
          const parsed = schema.safeParse(event.details);
          assert.ok(parsed.success, `${event.event_type}: ${JSON.stringify(event.details)}`);
        }
      });

      await t.step("every certificate records the course as the product does", async () => {
        const certificates = await sql<{ course: unknown; english: unknown; russian: unknown }[]>`
          select course, private.certificate_course(course, full_name, 'en') as english,
                 private.certificate_course(course, full_name, 'ru') as russian
          from public.certificates`;
        assert.ok(certificates.length > 0);
        const [{ snapshot }] = await sql<
          { snapshot: unknown }[]
        >`select private.course_snapshot() as snapshot`;
        for (const certificate of certificates) {
          assert.ok(CertificateCourse.safeParse(certificate.english).success);
          assert.ok(CertificateCourse.safeParse(certificate.russian).success);
          assert.deepEqual(certificate.course, snapshot);
        }
      });
    } finally {
      await database.drop();
    }

    async function completedLessons(userId: string): Promise<number> {
      const [row] = await sql<{ count: number }[]>`
        select count(*)::int as count from public.student_progress where user_id = ${userId} and status = 'completed'`;
      return row.count;
    }
  },
});

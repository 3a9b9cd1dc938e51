/**
 * The course's content file (supabase/course.json): the course, its modules and lessons with their durations,
 * thresholds and video URLs, the achievements' texts, and every text in Russian and English. The one place
 * the content lives: `npm run bootstrap` loads it on a real project, `npm start` and the tests locally.
 */
import type postgres from "postgres";
import { z } from "zod";

const Text = (max: number) =>
  z.strictObject({ ru: z.string().min(1).max(max), en: z.string().min(1).max(max) });
const Title = Text(200);
const Description = Text(2000);

/** The achievements the code awards (complete-lesson); the file gives their texts. */
const achievementCodes = ["first_lesson", "attentive_viewer", "halfway", "graduate"] as const;

/** The content file's shape. */
/**
 * A video's path in its bucket: segments of safe characters, none starting with a dot (no `..`); the same rule
 * as the column's CHECK (tripwire_lessons_video_path_object) and the local Storage's.
 */
export const objectPath = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;

export const Course = z.strictObject({
  course: z.strictObject({
    title: Title,
    description: Description.optional(),
    certificate_text: Description.refine(
      (text) => text.ru.includes("{full_name}") && text.en.includes("{full_name}"),
      "must name the graduate as {full_name} in both languages",
    ),
  }),
  modules: z.array(z.strictObject({
    id: z.number().int().positive(),
    position: z.number().int().positive(),
    title: Title,
    description: Description.optional(),
    lessons: z.array(z.strictObject({
      id: z.number().int().positive(),
      position: z.number().int().positive(),
      title: Title,
      description: Description.optional(),
      video_duration_seconds: z.number().int().positive(),
      min_watch_percentage: z.number().min(1).max(100).default(80),
      /** The object's path in the private bucket `lesson-videos` (supabase/config.toml). */
      video_path: z.string().regex(objectPath, "must be an object path"),
    })).min(1),
  })).min(1),
  achievements: z.array(z.strictObject({
    code: z.enum(achievementCodes),
    title: Title,
    description: Description,
  })),
});
export type Course = z.output<typeof Course>;

export const courseFile = new URL("../../supabase/course.json", import.meta.url);

/** The content file, parsed (a malformed one throws with the field's path). */
export async function readCourse(path: string | URL = courseFile): Promise<Course> {
  return Course.parse(JSON.parse(await Deno.readTextFile(path)));
}

/**
 * Upserts the course in one transaction (the videos' paths are the same locally and deployed: the bucket's
 * objects). Returns how many modules and lessons it holds.
 */
export async function loadCourse(
  sql: postgres.Sql,
  course: Course,
): Promise<{ modules: number; lessons: number }> {
  await sql.begin(async (tx) => {
    await tx`
      insert into public.course (id, title, description, certificate_text)
      values (true, ${tx.json(course.course.title)}, ${
      course.course.description ? tx.json(course.course.description) : null
    },
              ${tx.json(course.course.certificate_text)})
      on conflict (id) do update
        set title = excluded.title, description = excluded.description, certificate_text = excluded.certificate_text`;
    for (const module of course.modules) {
      await tx`
        insert into public.tripwire_modules (id, position, title, description)
        values (${module.id}, ${module.position}, ${tx.json(module.title)},
                ${module.description ? tx.json(module.description) : null})
        on conflict (id) do update
          set position = excluded.position, title = excluded.title, description = excluded.description`;
      for (const lesson of module.lessons) {
        await tx`
          insert into public.tripwire_lessons
            (id, module_id, position, title, description, video_duration_seconds, min_watch_percentage, video_path)
          values (${lesson.id}, ${module.id}, ${lesson.position}, ${tx.json(lesson.title)},
                  ${
          lesson.description ? tx.json(lesson.description) : null
        }, ${lesson.video_duration_seconds},
                  ${lesson.min_watch_percentage}, ${lesson.video_path})
          on conflict (id) do update
            set module_id = excluded.module_id, position = excluded.position, title = excluded.title,
                description = excluded.description, video_duration_seconds = excluded.video_duration_seconds,
                min_watch_percentage = excluded.min_watch_percentage, video_path = excluded.video_path`;
      }
    }
    for (const achievement of course.achievements) {
      await tx`
        update public.achievements set title = ${tx.json(achievement.title)}, description = ${
        tx.json(achievement.description)
      }
        where code = ${achievement.code}`;
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

/**
 * A student completes a lesson (docs/architecture.md, complete-lesson): one transaction with the student's
 * profile row locked, so repeated and concurrent calls complete once. Everything derived (modules
 * completed, percentages, statistics, achievements) is recomputed from the facts, never incremented.
 */
import { upgradeOffer } from "../_domain/handoff.ts";
import { z } from "zod";
import { assertAccess, type AuthUser } from "../_shared/auth.ts";
import { db, type Row, type Sql, type Transaction, withTransaction } from "../_shared/db.ts";
import { activity, logActivity } from "../_domain/activity.ts";
import { certificatePdfUrl, verificationUrl } from "../_domain/certificates.ts";
import { emitEvent } from "../_domain/events.ts";
import { HttpError } from "../_shared/errors.ts";
import type { Language } from "../_shared/language.ts";
import { timestamp } from "../_shared/openapi.ts";
import { Certificate } from "./certificate_check.ts";

export const CompleteLesson = z.strictObject({
  lesson_id: z.number().int().positive().max(2_147_483_647),
}).meta({ id: "CompleteLesson" });
export type CompleteLesson = z.output<typeof CompleteLesson>;

/** Watched share of a lesson that earns the attentive_viewer achievement. */
const attentiveViewerPercentage = 95;

/** The answer to a completion, first or repeated. */
export const Completion = z.object({
  lesson_id: z.number().int(),
  already_completed: z.boolean().meta({
    description: "True when an earlier call completed it; nothing changed.",
  }),
  completed_at: timestamp,
  watch_percentage: z.number().min(0).max(100),
  module: z.object({ id: z.number().int(), position: z.number().int(), completed: z.boolean() }),
  modules_completed: z.number().int().min(0),
  total_modules: z.number().int().min(0),
  completion_percentage: z.number().min(0).max(100),
  next_module: z.object({
    id: z.number().int(),
    position: z.number().int(),
    title: z.string(),
    unlocked: z.boolean(),
  }).nullable().meta({ description: "The module after this lesson's, null after the last one." }),
  achievements: z.array(z.string()).meta({ description: "Codes of every achievement unlocked so far." }),
  certificate: Certificate.nullable().meta({ description: "Issued when the last module is completed." }),
}).meta({ id: "Completion" });
export type Completion = z.output<typeof Completion>;

/** The lesson, and where the student stands on it. */
type LessonFacts =
  & Pick<Row<"tripwire_lessons">, "id" | "module_id" | "min_watch_percentage">
  & {
    /** In the academy's language, as the feed keeps it. */
    title: string;
    module_position: Row<"tripwire_modules">["position"];
    unlocked: boolean;
    watch_percentage: Row<"video_tracking">["watch_percentage"] | null;
    progress_status: Row<"student_progress">["status"] | null;
  };

/** The student who completes, and the manager whose feed hears of it. */
type Student = Pick<Row<"tripwire_users">, "granted_by" | "full_name" | "status">;

/** Completes `lesson_id` for the signed-in student, or returns the completion that already happened. */
export function completeLesson(
  user: AuthUser,
  input: CompleteLesson,
  language: Language | null = null,
  sql: Sql = db(),
): Promise<Completion> {
  return withTransaction(async (tx) => {
    // The profile is locked so that completions of one student run one at a time; the sale's row is shared-
    // locked so that a refund waits for this completion (and then revokes its certificate), or this one
    // waits for the refund and sees the student refunded.
    const [student] = await tx<Student[]>`
      select t.granted_by, t.full_name, t.status
      from public.tripwire_user_profile p join public.tripwire_users t on t.user_id = p.user_id
      where p.user_id = ${user.id}
      for update of p for share of t`;
    if (!student) throw new HttpError(403, "forbidden", "Only a Tripwire student can complete lessons");
    assertAccess(student.status);

    const [lesson] = await tx<LessonFacts[]>`
      select l.id, private.localize(l.title, private.content_language(null)) as title, l.module_id,
             m.position as module_position, l.min_watch_percentage,
             exists (
               select 1 from public.tripwire_module_unlocks u where u.user_id = ${user.id} and u.module_id = l.module_id
             ) as unlocked,
             vt.watch_percentage, sp.status as progress_status
      from public.tripwire_lessons l
      join public.tripwire_modules m on m.id = l.module_id
      left join public.video_tracking vt on vt.user_id = ${user.id} and vt.lesson_id = l.id
      left join public.student_progress sp on sp.user_id = ${user.id} and sp.lesson_id = l.id
      where l.id = ${input.lesson_id}`;
    if (!lesson) throw new HttpError(404, "lesson_not_found", `There is no lesson ${input.lesson_id}`);
    if (!lesson.unlocked) {
      throw new HttpError(409, "lesson_locked", "This lesson's module is not unlocked yet", {
        lesson_id: lesson.id,
      });
    }
    const alreadyCompleted = lesson.progress_status === "completed";
    if (!alreadyCompleted) {
      const watched = Number(lesson.watch_percentage ?? 0);
      const required = Number(lesson.min_watch_percentage);
      if (watched < required) {
        throw new HttpError(
          422,
          "watch_threshold_not_met",
          `Watched ${watched} % of this lesson; ${required} % is needed to complete it`,
          { watch_percentage: watched, min_watch_percentage: required },
        );
      }
      await recordCompletion(tx, user.id, student, lesson);
    }
    return await readCompletion(tx, user.id, lesson, alreadyCompleted, language);
  }, sql);
}

async function recordCompletion(
  tx: Transaction,
  userId: string,
  student: Student,
  lesson: LessonFacts,
): Promise<void> {
  await markLessonCompleted(tx, userId, student, lesson);
  const completedModules = await completeFinishedModules(tx, userId);
  if (completedModules.includes(lesson.module_id)) await unlockNextModule(tx, userId, student, lesson);
  const facts = await recomputeStudentFacts(tx, userId);
  if (facts.course_finished) await issueCertificate(tx, userId, student);
}

/** The lesson's progress and tracking rows say completed, and the selling manager's feed hears of it. */
async function markLessonCompleted(tx: Transaction, userId: string, student: Student, lesson: LessonFacts) {
  await tx`
    insert into public.student_progress (user_id, lesson_id, status, watch_percentage, started_at, completed_at)
    values (${userId}, ${lesson.id}, 'completed', ${lesson.watch_percentage}, now(), now())
    on conflict (user_id, lesson_id) do update
      set status = 'completed', completed_at = now(), watch_percentage = excluded.watch_percentage,
          started_at = coalesce(public.student_progress.started_at, now())`;
  await tx`
    update public.video_tracking set status = 'completed' where user_id = ${userId} and lesson_id = ${lesson.id}`;
  await logActivity(
    tx,
    student.granted_by,
    userId,
    activity("lesson_completed", {
      student_name: student.full_name,
      lesson_id: lesson.id,
      lesson_title: lesson.title,
      watch_percentage: Number(lesson.watch_percentage),
    }),
  );
  await emitEvent(
    tx,
    "lesson.completed",
    userId,
    { watch_percentage: Number(lesson.watch_percentage) },
    lesson.id,
  );
}

/**
 * A module is completed when every one of its lessons is: from the facts, for every module. Returns the
 * modules this call completed.
 */
async function completeFinishedModules(tx: Transaction, userId: string): Promise<number[]> {
  const completed = await tx<Pick<Row<"tripwire_module_unlocks">, "module_id">[]>`
    update public.tripwire_module_unlocks u set completed_at = now()
    where u.user_id = ${userId} and u.completed_at is null
      and exists (select 1 from public.tripwire_lessons l where l.module_id = u.module_id)
      and not exists (
        select 1 from public.tripwire_lessons l
        where l.module_id = u.module_id
          and not exists (
            select 1 from public.student_progress sp
            where sp.user_id = ${userId} and sp.lesson_id = l.id and sp.status = 'completed'
          )
      )
    returning u.module_id`;
  return completed.map((row) => row.module_id);
}

/** Unlocks the module after the lesson's, by position, with a progress and tracking row per lesson. */
async function unlockNextModule(tx: Transaction, userId: string, student: Student, lesson: LessonFacts) {
  const [unlocked] = await tx<(Pick<Row<"tripwire_module_unlocks">, "module_id"> & { title: string })[]>`
    with next_module as (
      select id, private.localize(title, private.content_language(null)) as title
      from public.tripwire_modules where position > ${lesson.module_position}
      order by position limit 1
    ),
    unlocked as (
      insert into public.tripwire_module_unlocks (user_id, module_id)
      select ${userId}, id from next_module
      on conflict (user_id, module_id) do nothing
      returning module_id
    ),
    progress as (
      insert into public.student_progress (user_id, lesson_id)
      select ${userId}, l.id from public.tripwire_lessons l join unlocked u on u.module_id = l.module_id
      on conflict do nothing
    ),
    tracking as (
      insert into public.video_tracking (user_id, lesson_id)
      select ${userId}, l.id from public.tripwire_lessons l join unlocked u on u.module_id = l.module_id
      on conflict do nothing
    )
    select u.module_id, n.title from unlocked u join next_module n on n.id = u.module_id`;
  if (unlocked) {
    await logActivity(
      tx,
      student.granted_by,
      userId,
      activity("module_unlocked", {
        student_name: student.full_name,
        module_id: unlocked.module_id,
        module_title: unlocked.title,
      }),
    );
  }
}

/** Profile, statistics and achievements, recomputed from the facts (never incremented); the sale's last activity. */
async function recomputeStudentFacts(tx: Transaction, userId: string) {
  const [facts] = await tx<{ modules_completed: number; total_modules: number; course_finished: boolean }[]>`
    with facts as (
      select
        (select count(*) from public.tripwire_module_unlocks u
         where u.user_id = ${userId} and u.completed_at is not null)::int as modules_completed,
        (select count(*) from public.tripwire_modules)::int as total_modules,
        (select count(*) from public.student_progress sp
         where sp.user_id = ${userId} and sp.status = 'completed')::int as lessons_completed,
        (select count(*) from public.tripwire_lessons)::int as total_lessons,
        (select coalesce(sum(vt.watched_seconds), 0) from public.video_tracking vt where vt.user_id = ${userId})
          as watch_seconds,
        (select max(sp.watch_percentage) from public.student_progress sp
         where sp.user_id = ${userId} and sp.status = 'completed') as best_percentage
    ),
    earned as (
      update public.user_achievements a set unlocked_at = now()
      from facts f
      where a.user_id = ${userId} and a.unlocked_at is null
        and ((a.achievement_code = 'first_lesson' and f.lessons_completed >= 1)
          or (a.achievement_code = 'attentive_viewer' and f.best_percentage >= ${attentiveViewerPercentage})
          or (a.achievement_code = 'halfway' and f.modules_completed >= 2)
          or (a.achievement_code = 'graduate' and f.modules_completed >= f.total_modules))
      returning a.achievement_code
    ),
    profile as (
      update public.tripwire_user_profile p
      set modules_completed = least(f.modules_completed, p.total_modules),
          completion_percentage = round(100.0 * f.lessons_completed / greatest(f.total_lessons, 1), 2),
          current_module_id = (
            select u.module_id from public.tripwire_module_unlocks u
            join public.tripwire_modules m on m.id = u.module_id
            where u.user_id = ${userId} and u.completed_at is null
            order by m.position limit 1
          )
      from facts f
      where p.user_id = ${userId}
    ),
    statistics as (
      update public.user_statistics s
      set lessons_completed = f.lessons_completed,
          modules_completed = f.modules_completed,
          total_watch_seconds = f.watch_seconds,
          achievements_unlocked = (
            select count(*) from public.user_achievements a where a.user_id = ${userId} and a.unlocked_at is not null
          ) + (select count(*) from earned)
      from facts f
      where s.user_id = ${userId}
    ),
    activity as (
      update private.student_activity a set last_activity_at = now() where a.user_id = ${userId}
    )
    select modules_completed, total_modules, modules_completed >= total_modules as course_finished from facts`;
  return facts;
}

async function issueCertificate(
  tx: Transaction,
  userId: string,
  student: Student,
) {
  const [certificate] = await tx<
    Pick<Row<"certificates">, "certificate_number" | "issued_at" | "verification_code">[]
  >`
    insert into public.certificates (user_id, certificate_number, full_name, course)
    select ${userId},
           format('TW-%s-%s', to_char(now(), 'YYYY'), lpad(nextval('private.certificate_number_seq')::text, 6, '0')),
           ${student.full_name},
           private.course_snapshot()
    on conflict (user_id) do nothing
    returning certificate_number, issued_at, verification_code`;
  if (!certificate) return;
  await tx`
    update public.tripwire_user_profile set certificate_issued_at = now(), current_module_id = null
    where user_id = ${userId}`;
  await tx`update public.tripwire_users set status = 'completed' where user_id = ${userId} and status = 'active'`;
  await logActivity(
    tx,
    student.granted_by,
    userId,
    activity("certificate_issued", {
      student_name: student.full_name,
      certificate_number: certificate.certificate_number,
    }),
  );
  await emitEvent(tx, "course.completed", userId, {
    certificate: {
      number: certificate.certificate_number,
      issued_at: certificate.issued_at.toISOString(),
      verification_url: verificationUrl(certificate.certificate_number, certificate.verification_code),
      pdf_url: certificatePdfUrl(certificate.certificate_number, certificate.verification_code),
    },
    upgrade: await upgradeOffer(tx, userId),
  });
}

type CompletionRow =
  & Pick<Row<"student_progress">, "completed_at" | "watch_percentage">
  & Pick<Row<"tripwire_user_profile">, "modules_completed" | "total_modules" | "completion_percentage">
  & {
    module_completed: boolean;
    next_module: Completion["next_module"];
    achievements: string[];
    certificate: (Omit<Certificate, "issued_at"> & { issued_at: string }) | null;
  };

async function readCompletion(
  tx: Transaction,
  userId: string,
  lesson: LessonFacts,
  alreadyCompleted: boolean,
  language: Language | null,
): Promise<Completion> {
  const [row] = await tx<CompletionRow[]>`
    select sp.completed_at, sp.watch_percentage,
           (select u.completed_at is not null from public.tripwire_module_unlocks u
            where u.user_id = ${userId} and u.module_id = ${lesson.module_id}) as module_completed,
           p.modules_completed, p.total_modules, p.completion_percentage,
           (select jsonb_build_object(
              'id', m.id, 'position', m.position, 'title', private.localize(m.title, private.content_language(${language})),
              'unlocked', exists (
              select 1 from public.tripwire_module_unlocks u where u.user_id = ${userId} and u.module_id = m.id))
            from public.tripwire_modules m where m.position > ${lesson.module_position}
            order by m.position limit 1) as next_module,
           (select coalesce(jsonb_agg(a.achievement_code order by c.position), '[]')
            from public.user_achievements a join public.achievements c on c.code = a.achievement_code
            where a.user_id = ${userId} and a.unlocked_at is not null) as achievements,
           (select jsonb_build_object('certificate_number', c.certificate_number,
                                      'verification_code', c.verification_code, 'full_name', c.full_name,
                                      'course', private.certificate_course(c.course, c.full_name,
                                                                           private.content_language(${language})),
                                      'issued_at', c.issued_at)
            from public.certificates c where c.user_id = ${userId}) as certificate
    from public.student_progress sp
    join public.tripwire_user_profile p on p.user_id = sp.user_id
    where sp.user_id = ${userId} and sp.lesson_id = ${lesson.id}`;
  return {
    lesson_id: lesson.id,
    already_completed: alreadyCompleted,
    completed_at: row.completed_at!.toISOString(),
    watch_percentage: Number(row.watch_percentage),
    module: { id: lesson.module_id, position: lesson.module_position, completed: row.module_completed },
    modules_completed: row.modules_completed,
    total_modules: row.total_modules,
    completion_percentage: Number(row.completion_percentage),
    next_module: row.next_module,
    achievements: row.achievements,
    certificate: row.certificate &&
      { ...row.certificate, issued_at: new Date(row.certificate.issued_at).toISOString() },
  };
}

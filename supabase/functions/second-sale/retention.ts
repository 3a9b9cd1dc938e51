/**
 * Where students leave a lesson: the share of its starters who watched each second (their stored watched
 * ranges hold second + 0.5), for those who bought the main course and those who did not, as the quarter-hourly
 * job `analytics.refresh_retention` last computed it; and the drop-off points — the steepest falls of the
 * whole curve over ten seconds.
 */
import { z } from "zod";
import { db, type Sql } from "../_shared/db.ts";
import { HttpError } from "../_shared/errors.ts";
import { timestamp } from "../_shared/openapi.ts";

export const RetentionParams = z.object({
  lesson_id: z.coerce.number("a lesson's id (a number)").int().min(1).max(2_147_483_647),
});

const Curve = z.object({
  starters: z.number().int().min(0),
  share: z.array(z.number().min(0).max(1)).meta({
    description:
      "Element s: the share of these starters who watched second s (4 decimals); empty without starters.",
  }),
});

export const RetentionLessons = z.object({
  lessons: z.array(z.object({
    lesson_id: z.number().int(),
    title: z.string(),
    starters: z.number().int().min(0),
  })),
}).meta({ id: "RetentionLessons" });
export type RetentionLessons = z.output<typeof RetentionLessons>;

/** The course's lessons in order, with how many started each (as of the last retention job). */
export async function retentionLessons(language: string | null, sql: Sql = db()): Promise<RetentionLessons> {
  const lessons = await sql<RetentionLessons["lessons"]>`
    select l.id as lesson_id, private.localize(l.title, private.content_language(${language})) as title,
           coalesce((select sum(s.starters) from analytics.lesson_starters s where s.lesson_id = l.id), 0)::int
             as starters
    from public.tripwire_lessons l join public.tripwire_modules m on m.id = l.module_id
    order by m.position, l.position`;
  return { lessons: [...lessons] };
}

export const Retention = z.object({
  lesson_id: z.number().int(),
  duration_seconds: z.number().int(),
  computed_at: timestamp.nullable().meta({ description: "When the job last computed it; null: not yet." }),
  all: Curve,
  bought: Curve.meta({ description: "Students who bought the main course (a purchase not refunded)." }),
  not_bought: Curve,
  drop_offs: z.array(z.object({
    second: z.number().int().meta({ description: "Where the fall starts." }),
    share_before: z.number(),
    share_after: z.number().meta({ description: "Ten seconds later." }),
  })).meta({
    description:
      "Up to three steepest ten-second falls of the whole curve (at least 5 points, 30 s apart), steepest " +
      "first.",
  }),
}).meta({ id: "Retention" });
export type Retention = z.output<typeof Retention>;

const window = 10;
const round = (value: number) => Math.round(value * 10_000) / 10_000;

function curveOf(viewers: number[], starters: number): z.output<typeof Curve> {
  return { starters, share: starters > 0 ? viewers.map((count) => round(count / starters)) : [] };
}

/** The steepest falls over `window` seconds, at least 5 points each, 30 s apart. */
function dropOffs(share: number[]): Retention["drop_offs"] {
  const falls = share.slice(0, Math.max(0, share.length - window)).map((before, second) => ({
    second,
    share_before: before,
    share_after: share[second + window],
  })).filter((fall) => fall.share_before - fall.share_after >= 0.05)
    .sort((a, b) =>
      (b.share_before - b.share_after) - (a.share_before - a.share_after) || a.second - b.second
    );
  const chosen: Retention["drop_offs"] = [];
  for (const fall of falls) {
    if (chosen.length === 3) break;
    if (chosen.every((other) => Math.abs(other.second - fall.second) >= 30)) chosen.push(fall);
  }
  return chosen;
}

export async function lessonRetention(lessonId: number, sql: Sql = db()): Promise<Retention> {
  const [lesson] = await sql<{ duration: number }[]>`
    select video_duration_seconds as duration from public.tripwire_lessons where id = ${lessonId}`;
  if (!lesson) throw new HttpError(404, "lesson_not_found", `There is no lesson ${lessonId}`);
  const groups = await sql<{ bought: boolean; starters: number; computed_at: string; viewers: number[] }[]>`
    select s.bought, s.starters, to_jsonb(s.computed_at) #>> '{}' as computed_at,
           array(select r.viewers from analytics.lesson_retention r
                 where r.lesson_id = s.lesson_id and r.bought = s.bought order by r.second) as viewers
    from analytics.lesson_starters s where s.lesson_id = ${lessonId}`;
  const group = (bought: boolean) => groups.find((row) => row.bought === bought);
  const viewers = (bought: boolean) => group(bought)?.viewers ?? Array(lesson.duration).fill(0);
  const starters = (bought: boolean) => group(bought)?.starters ?? 0;
  const everyone = viewers(true).map((count, second) => count + viewers(false)[second]);
  const all = curveOf(everyone, starters(true) + starters(false));
  return {
    lesson_id: lessonId,
    duration_seconds: lesson.duration,
    computed_at: groups[0]?.computed_at ?? null,
    all,
    bought: curveOf(viewers(true), starters(true)),
    not_bought: curveOf(viewers(false), starters(false)),
    drop_offs: dropOffs(all.share),
  };
}

/**
 * A manager's students, listed (docs/architecture.md, students): filters, search and three orders, a page at a
 * time through a keyset cursor. The CSV export (exports.ts) shares the filters and the orders.
 */
import { z } from "zod";
import { scopeOf, stages, StudentSummary, summaryFacts, summaryOf } from "../_domain/student_summary.ts";
import { type AuthUser, studentStatuses } from "../_shared/auth.ts";
import { db, type Sql } from "../_shared/db.ts";
import { isStorableYear, typedText } from "../_shared/input.ts";
import { cursorParameter, encodeCursor, pageLimit } from "../_shared/paging.ts";

const sorts = ["newest", "idle_longest", "recently_active"] as const;
const instant = z.iso.datetime({ offset: true, message: "a time with its offset (ISO 8601)" })
  .refine(isStorableYear, "there is no year 0000");

export const StudentsQuery = z.strictObject({
  status: z.enum(studentStatuses).optional(),
  stage: z.enum(stages).optional().meta({
    description: "Derived from progress: nothing watched yet, watching, or the certificate issued.",
  }),
  q: typedText(1, 100).optional().meta({
    description: "Part of the name or e-mail, any case.",
  }),
  inactive_since: instant.optional().meta({
    description: "Only students with no activity (watching or a completion) since this time, never-active " +
      "ones included: who stalled.",
  }),
  active_since: instant.optional().meta({
    description: "Only students active (watching or a completion) at or after this time.",
  }),
  sort: z.enum(sorts).default("newest").meta({
    description: "`newest` sale first (the default); `idle_longest`: never-active students first, then the " +
      "longest without activity; `recently_active`: the most recent activity first, never-active last.",
  }),
  after: cursorParameter(
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    "not a cursor this list gave out",
  ),
  limit: pageLimit,
  manager_id: z.uuid("a manager's id (uuid)").optional().meta({ description: "Admins only: one manager's." }),
});
export type StudentsQuery = z.output<typeof StudentsQuery>;

export const StudentList = z.object({
  students: z.array(StudentSummary),
  next_cursor: z.string().nullable().meta({
    description: "Pass as `after` for the next page; null at the end.",
  }),
}).meta({ id: "StudentList" });
export type StudentList = z.output<typeof StudentList>;

/** A LIKE pattern that matches `text` literally anywhere. */
const containing = (text: string) => `%${text.toLowerCase().replace(/[\\%_]/g, (char) => `\\${char}`)}%`;

/**
 * How each sort orders the list: its keys (expressions the indexes hold, most significant first; the last is the
 * time a cursor carries) and its direction. The activity sorts go by the UTC day of the last activity first
 * (`student_activity_day`), then the exact time: the same order, read a day of the index at a time. A
 * never-active student's last activity sorts as -infinity, so one row comparison pages through every sort.
 */
const activityTime = "coalesce(a.last_activity_at, '-infinity'::timestamptz)";
const activityDay = "a.activity_day";
const orders = {
  newest: { keys: ["t.created_at"], descending: true },
  idle_longest: { keys: [activityDay, activityTime], descending: false },
  recently_active: { keys: [activityDay, activityTime], descending: true },
} as const;

/** The day of a time given as text, as `student_activity.activity_day` holds it (-infinity: never, -1). */
const dayOf = (sql: Sql, time: string) =>
  sql`(case when ${time}::text::timestamptz = '-infinity' then -1
            else (${time}::text::timestamptz at time zone 'UTC')::date - '1970-01-01'::date end)`;

/**
 * A sort as SQL: `time`, the value a cursor carries; `by`, the ORDER BY list; `past(after)`, the keyset
 * condition for the rows after a cursor.
 */
export function sortOf(sql: Sql, sort: keyof typeof orders) {
  const order = orders[sort];
  const direction = order.descending ? "desc" : "asc";
  const time = sql.unsafe(order.keys.at(-1)!);
  return {
    time,
    by: sql.unsafe([...order.keys, "t.user_id"].map((key) => `${key} ${direction}`).join(", ")),
    past(after: { createdAt: string; id: string }) {
      const keys = sql.unsafe(`(${order.keys.join(", ")}, t.user_id)`);
      const values = order.keys.length === 2
        ? sql`(${dayOf(sql, after.createdAt)}, ${after.createdAt}::text::timestamptz, ${after.id}::uuid)`
        : sql`(${after.createdAt}::text::timestamptz, ${after.id}::uuid)`;
      return order.descending ? sql`and ${keys} < ${values}` : sql`and ${keys} > ${values}`;
    },
  };
}

/**
 * The list's filters as conditions on `t` and `f` (the list and the CSV export share them). Only the filters
 * asked for reach the statement, so each query shape gets the plan that uses its index (a "parameter is null
 * or …" condition would make one generic plan that uses none).
 */
export function studentFilters(
  sql: Sql,
  scope: string | null,
  query: Pick<StudentsQuery, "status" | "stage" | "q" | "inactive_since" | "active_since">,
) {
  const none = sql``;
  return sql`
    ${scope ? sql`and t.granted_by = ${scope}` : none}
    ${query.status ? sql`and t.status = ${query.status}` : none}
    ${query.stage ? sql`and f.stage = ${query.stage}` : none}
    ${query.q ? sql`and lower(t.full_name) || ' ' || t.email like ${containing(query.q)}` : none}
    ${
    query.inactive_since
      ? sql`and ${sql.unsafe(activityDay)} <= ${dayOf(sql, query.inactive_since)}
            and ${sql.unsafe(activityTime)} < ${query.inactive_since}::text::timestamptz`
      : none
  }
    ${
    query.active_since
      ? sql`and ${sql.unsafe(activityDay)} >= ${dayOf(sql, query.active_since)}
            and ${sql.unsafe(activityTime)} >= ${query.active_since}::text::timestamptz`
      : none
  }`;
}

/** The caller's students in the order asked (newest first by default), filtered, a page after `after`. */
export async function listStudents(
  caller: AuthUser,
  query: StudentsQuery,
  sql: Sql = db(),
): Promise<StudentList> {
  const scope = scopeOf(caller, query.manager_id);
  const sort = sortOf(sql, query.sort);
  const rows = await sql<{ summary: StudentSummary; cursor_time: string }[]>`
    select ${summaryOf(sql)} as summary, to_jsonb(${sort.time}) #>> '{}' as cursor_time
    from public.tripwire_users t
    ${summaryFacts(sql)}
    where true ${studentFilters(sql, scope, query)} ${query.after ? sort.past(query.after) : sql``}
    order by ${sort.by}
    limit ${query.limit}`;
  const last = rows.at(-1);
  return {
    students: rows.map((row) => row.summary),
    next_cursor: last && rows.length === query.limit
      ? encodeCursor({ createdAt: last.cursor_time, id: last.summary.id })
      : null,
  };
}

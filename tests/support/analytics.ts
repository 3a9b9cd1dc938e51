/** The sales analytics as the leaderboard stories read and recompute them: calls, refreshes, plain GROUP BYs. */
import assert from "node:assert/strict";

import { aida } from "./fixtures.ts";
import { complete } from "./learning.ts";

import { appDatabase, callFunction, serviceKey, tokenFor } from "./server.ts";

import { expectJson } from "./responses.ts";

export const sql = appDatabase.sql;
export const periods = ["day", "week", "month", "all"] as const;

export async function get(
  path: string,
  userId: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return await callFunction(path, {
    headers: { authorization: `Bearer ${await tokenFor(userId)}`, ...headers },
  });
}

export async function getJson(path: string, userId: string) {
  return await expectJson(await get(path, userId));
}

export async function refresh(rebuild = false): Promise<{ refreshed: boolean; views?: { view: string }[] }> {
  const response = await callFunction(`leaderboard/refresh${rebuild ? "?rebuild=true" : ""}`, {
    method: "POST",
    headers: { authorization: `Bearer ${serviceKey}` },
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  return body;
}

/** Marks a lesson fully watched, as many heartbeats would have, then completes it through HTTP. */
export async function completeLesson(student: { id: string; token: string }, lessonId: number) {
  await sql`
    update public.video_tracking
    set watched_ranges = nummultirange(numrange(0, l.video_duration_seconds)),
        watched_seconds = l.video_duration_seconds, watch_percentage = 100, status = 'in_progress',
        qualified_at = now(), last_heartbeat_at = now()
    from public.tripwire_lessons l
    where l.id = ${lessonId} and video_tracking.lesson_id = l.id and video_tracking.user_id = ${student.id}`;
  const response = await complete(student, lessonId);
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
}

/**
 * The leaderboard's figures for a period computed the plain way: GROUP BY over the base tables, in
 * the academy's time zone, then ranked in TypeScript.
 */
export async function expectedLeaderboard(period: (typeof periods)[number]) {
  const rows = await sql<
    {
      manager_id: string;
      full_name: string;
      revenue: string;
      refunds: string;
      students_created: number;
      students_active: number;
      students_learning: number;
      lessons_completed: number;
      certificates_issued: number;
    }[]
  >`
    with zone as (
      select time_zone as tz, (now() at time zone time_zone)::date as today from academy.settings
    ),
    bounds as (
      select tz, case ${period}
                   when 'day' then today
                   when 'week' then date_trunc('week', today)::date
                   when 'month' then date_trunc('month', today)::date
                 end as starts_on
      from zone
    ),
    sales as (
      select tu.granted_by as manager_id, count(*)::int as students_created, sum(tu.payment_amount) as revenue
      from public.tripwire_users tu, bounds b
      where b.starts_on is null or (tu.created_at at time zone b.tz)::date >= b.starts_on
      group by tu.granted_by
    ),
    refunded as (
      select tu.granted_by as manager_id, sum(r.amount) as refunds
      from public.student_refunds r join public.tripwire_users tu using (user_id), bounds b
      where b.starts_on is null or (r.created_at at time zone b.tz)::date >= b.starts_on
      group by tu.granted_by
    ),
    lessons as (
      select tu.granted_by as manager_id, count(*)::int as lessons_completed
      from public.student_progress sp join public.tripwire_users tu using (user_id), bounds b
      where sp.status = 'completed'
        and (b.starts_on is null or (sp.completed_at at time zone b.tz)::date >= b.starts_on)
      group by tu.granted_by
    ),
    certificates as (
      select tu.granted_by as manager_id, count(*)::int as certificates_issued
      from public.certificates c join public.tripwire_users tu using (user_id), bounds b
      where b.starts_on is null or (c.issued_at at time zone b.tz)::date >= b.starts_on
      group by tu.granted_by
    ),
    active as (
      -- the academy's own count: status active, now (the same in every period)
      select tu.granted_by as manager_id, count(*)::int as students_active
      from public.tripwire_users tu
      where tu.status = 'active'
      group by tu.granted_by
    ),
    learning as (
      -- watched something new or completed a lesson in the period (ever, for all)
      select tu.granted_by as manager_id, count(*)::int as students_learning
      from public.tripwire_users tu join private.student_activity a on a.user_id = tu.user_id, bounds b
      where a.last_activity_at >= coalesce(b.starts_on::timestamp at time zone b.tz, '-infinity')
      group by tu.granted_by
    )
    select u.id as manager_id, u.full_name,
           (coalesce(s.revenue, 0) - coalesce(r.refunds, 0))::numeric(14, 2)::text as revenue,
           coalesce(r.refunds, 0)::numeric(14, 2)::text as refunds,
           coalesce(s.students_created, 0) as students_created, coalesce(a.students_active, 0) as students_active,
           coalesce(g.students_learning, 0) as students_learning,
           coalesce(l.lessons_completed, 0) as lessons_completed, coalesce(c.certificates_issued, 0) as certificates_issued
    from public.users u
    left join sales s on s.manager_id = u.id
    left join refunded r on r.manager_id = u.id
    left join lessons l on l.manager_id = u.id
    left join certificates c on c.manager_id = u.id
    left join active a on a.manager_id = u.id
    left join learning g on g.manager_id = u.id
    where u.role = 'manager' or s.manager_id is not null or r.manager_id is not null`;
  const key = (
    row: (typeof rows)[number],
  ) => [Number(row.revenue), row.students_created, row.certificates_issued];
  const sorted = [...rows].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    return y[0] - x[0] || y[1] - x[1] || y[2] - x[2];
  });
  return sorted.map((row) => ({
    rank: 1 +
      sorted.filter((other) => key(other).join() !== key(row).join() && greater(key(other), key(row))).length,
    manager_id: row.manager_id,
    full_name: row.full_name,
    revenue: Number(row.revenue),
    refunds: Number(row.refunds),
    students_created: row.students_created,
    students_active: row.students_active,
    students_learning: row.students_learning,
    lessons_completed: row.lessons_completed,
    certificates_issued: row.certificates_issued,
  }));
}

export function greater(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return false;
}

export const byManager = (rows: { manager_id: string }[]) =>
  Object.fromEntries(rows.map((row) => [row.manager_id, row])) as Record<string, unknown>;

/** The leaderboard of every period, as the function answers it, equals the plain GROUP BY. */
export async function expectEveryPeriodAsGroupBy(when: string) {
  for (const period of periods) {
    const body = await getJson(`leaderboard?period=${period}&limit=100`, aida.id);
    assert.deepEqual(
      byManager(body.managers),
      byManager(await expectedLeaderboard(period)),
      `${period}, ${when}`,
    );
  }
}

/**
 * The manager's call list: their students who have not bought the main course, hottest first, by the heat
 * score `analytics.heat` computes from verified watching — completed the course (30), in the last 24 hours
 * (+15), opened the upgrade link (25), came back after a stall (15), watched a completed lesson again (10 each,
 * at most two); ready at 50. Each row says why and when, how to reach the student, and the link to send.
 * And the tracked link itself: opening it is a signal.
 */
import { z } from "zod";
import type { AuthUser } from "../_shared/auth.ts";
import { db, type Sql } from "../_shared/db.ts";
import { HttpError } from "../_shared/errors.ts";
import { timestamp } from "../_shared/openapi.ts";
import { checkoutWith, readHandoff, upgradeOffer, UpgradeOfferSchema } from "../_domain/handoff.ts";
import { scopeOf } from "./conversion.ts";

export const CallListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  manager_id: z.uuid("a manager's id (uuid)").optional().meta({
    description:
      "An admin's choice of one manager (an admin's own list is everyone's); a manager reads their own.",
  }),
});
export type CallListQuery = z.output<typeof CallListQuery>;

const signals = [
  "completed_course",
  "completed_today",
  "opened_upgrade_link",
  "came_back",
  "rewatched_lesson",
] as const;

export const CallListEntry = z.object({
  student_id: z.uuid(),
  full_name: z.string(),
  email: z.string(),
  phone: z.string().nullable().meta({ description: "E.164, as stored." }),
  score: z.number().int(),
  ready: z.boolean().meta({ description: "The score reached the threshold (`threshold`)." }),
  reasons: z.array(z.object({ signal: z.enum(signals), points: z.number().int(), at: timestamp })).meta({
    description: "Why, newest first.",
  }),
  last_signal_at: timestamp,
  upgrade: UpgradeOfferSchema.nullable().meta({ description: "The link to send (null: no offer stands)." }),
}).meta({ id: "CallListEntry" });

export const CallList = z.object({
  threshold: z.number().int(),
  students: z.array(CallListEntry),
}).meta({ id: "CallList" });
export type CallList = z.output<typeof CallList>;

export async function callList(user: AuthUser, query: CallListQuery, sql: Sql = db()): Promise<CallList> {
  const scope = scopeOf(user, query.manager_id);
  const rows = await sql<
    (Omit<z.output<typeof CallListEntry>, "upgrade" | "ready"> & { threshold: number })[]
  >`
    with candidates as (
      select t.user_id from public.tripwire_users t
      where (${scope}::uuid is null or t.granted_by = ${scope}::uuid)
        and private.access_revoked(t.status) is not true
        and (exists (select from public.student_progress sp where sp.user_id = t.user_id and sp.status = 'completed')
             or exists (select from private.upgrade_link_opens o where o.student_id = t.user_id)
             or exists (select from private.stall_notices n where n.student_id = t.user_id))
        and not exists (select from private.main_course_purchases p
                        where p.student_id = t.user_id and p.refunded_at is null)
    )
    select h.user_id as student_id, t.full_name, t.email, t.phone, h.score, h.reasons,
           to_jsonb(h.last_signal_at) #>> '{}' as last_signal_at
    from analytics.heat(array(select user_id from candidates)) h
    join public.tripwire_users t on t.user_id = h.user_id
    order by h.score desc, h.last_signal_at desc, h.user_id
    limit ${query.limit}`;
  const [{ threshold }] = await sql<{ threshold: number }[]>`select analytics.ready_threshold() as threshold`;
  const students = [];
  for (const row of rows) {
    students.push({
      ...row,
      reasons: row.reasons.map((reason) => ({ ...reason, at: new Date(reason.at).toISOString() })),
      ready: row.score >= threshold,
      upgrade: await upgradeOffer(sql, row.student_id),
    });
  }
  return { threshold, students };
}

/**
 * Someone opened a graduate's tracked upgrade link: noted (a call-list signal), then on to the checkout with
 * the token. A link the project did not sign, or no checkout set, is 404.
 */
export async function openUpgradeLink(token: string, sql: Sql = db()): Promise<string> {
  const handoff = await readHandoff(token);
  const [settings] = await sql<{ checkout_url: string | null }[]>`
    select main_course_checkout_url as checkout_url from academy.settings`;
  if (!handoff || !settings.checkout_url) {
    throw new HttpError(404, "not_found", "This upgrade link is not one of the academy's");
  }
  await sql`
    insert into private.upgrade_link_opens as o (student_id)
    select t.user_id from public.tripwire_users t where t.user_id = ${handoff.studentId}::uuid
    on conflict (student_id) do update set last_opened_at = now(), opens = o.opens + 1`;
  return checkoutWith(settings.checkout_url, token);
}

/**
 * The audit trail as admins read it (docs/architecture.md, Audit): newest first, filtered by action, actor or
 * target, a page at a time.
 */
import { z } from "zod";
import { auditActions, auditTargetTypes } from "../_domain/audit.ts";
import type { AuthUser } from "../_shared/auth.ts";
import { db, type Sql } from "../_shared/db.ts";
import { timestamp } from "../_shared/openapi.ts";
import { cursorParameter, encodeCursor, pageLimit } from "../_shared/paging.ts";

export const AuditQuery = z.strictObject({
  action: z.enum(auditActions).optional(),
  actor_id: z.uuid("a staff member's id (uuid)").optional(),
  target_id: z.string().max(100).optional().meta({ description: "A student's or staff member's id." }),
  after: cursorParameter(/^[0-9]{1,19}$/, "not a cursor this list gave out"),
  limit: pageLimit,
});
export type AuditQuery = z.output<typeof AuditQuery>;

export const AuditEntry = z.object({
  id: z.number().int(),
  created_at: timestamp,
  actor_id: z.uuid().nullable().meta({ description: "null when the database itself or a scheduler acted." }),
  actor_role: z.enum(["admin", "manager", "service", "database"]),
  actor_name: z.string().nullable().meta({
    description: "The staff member's name now (null for a scheduler).",
  }),
  action: z.enum(auditActions),
  target_type: z.enum(auditTargetTypes),
  target_id: z.string().nullable(),
  target_name: z.string().nullable().meta({
    description:
      "The student's or staff member's name now (a tombstone once erased); null for other targets.",
  }),
  changes: z.record(z.string(), z.object({ before: z.unknown(), after: z.unknown() })).meta({
    description: 'The fields that changed. Names, e-mails and phones show as "(personal)", passwords as ' +
      '"(secret)".',
  }),
  reason: z.string().nullable(),
  client_ip: z.string().nullable().meta({ description: "The client's address as the gateway passed it." }),
  user_agent: z.string().nullable(),
  request_id: z.string().nullable(),
}).meta({ id: "AuditEntry" });
export type AuditEntry = z.output<typeof AuditEntry>;

export const AuditPage = z.object({
  entries: z.array(AuditEntry),
  currency: z.string().meta({
    description: "ISO 4217: the academy's currency, of every amount in `changes`.",
  }),
  next_cursor: z.string().nullable().meta({
    description: "Pass as `after` for the next page; null at the end.",
  }),
}).meta({ id: "AuditPage" });
export type AuditPage = z.output<typeof AuditPage>;

/** A page of the trail, newest first. Only admins reach this (the route's role gate). */
export async function readAudit(_admin: AuthUser, query: AuditQuery, sql: Sql = db()): Promise<AuditPage> {
  const none = sql``;
  const rows = await sql<{ entry: AuditEntry; cursor_time: string }[]>`
    select jsonb_build_object(
             'id', a.id, 'created_at', a.created_at, 'actor_id', a.actor_id, 'actor_role', a.actor_role,
             'actor_name', actor.full_name, 'action', a.action,
             'target_type', a.target_type, 'target_id', a.target_id, 'target_name', target.full_name,
             'changes', a.changes, 'reason', a.reason,
             'client_ip', a.client_ip, 'user_agent', a.user_agent, 'request_id', a.request_id
           ) as entry,
           to_jsonb(a.created_at) #>> '{}' as cursor_time
    from private.audit_log a
    -- Names as they are now, for a person reading the trail: one primary-key lookup each on a page of 50.
    left join public.users actor on actor.id = a.actor_id
    left join public.users target on a.target_type in ('student', 'staff') and target.id = case
      when a.target_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then a.target_id::uuid end
    where true
      ${query.action ? sql`and a.action = ${query.action}` : none}
      ${query.actor_id ? sql`and a.actor_id = ${query.actor_id}` : none}
      ${query.target_id ? sql`and a.target_id = ${query.target_id}` : none}
      ${query.after ? sql`and a.id < ${query.after.id}::bigint` : none}
    order by a.id desc
    limit ${query.limit}`;
  const [{ currency }] = await sql<{ currency: string }[]>`select currency from academy.settings`;
  const last = rows.at(-1);
  return {
    entries: rows.map((row) => row.entry),
    currency,
    next_cursor: last && rows.length === query.limit
      ? encodeCursor({ createdAt: last.cursor_time, id: String(last.entry.id) })
      : null,
  };
}

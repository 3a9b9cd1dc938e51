/**
 * The academy's staff (docs/architecture.md, Who uses it): admins create managers (and admins) with a login
 * whose generated password is shown once, list them, and deactivate or reactivate them. A deactivated staff
 * member's login is banned and every function refuses them; their sales and figures stay theirs. The first
 * admin is created the same way by `npm run bootstrap`. Every change is audited by the database's trigger,
 * with the admin who made it.
 */
import { z } from "zod";
import { actingAs } from "../_domain/audit.ts";
import type { AuthUser } from "../_shared/auth.ts";
import { type AuthAdmin, authAdmin, emailExists } from "../_shared/auth_admin.ts";
import { db, type Sql, type Transaction, withTransaction } from "../_shared/db.ts";
import { HttpError, isUniqueViolation } from "../_shared/errors.ts";
import { personName } from "../_shared/input.ts";
import { describeError, log } from "../_shared/log.ts";
import { timestamp } from "../_shared/openapi.ts";
import { generatePassword } from "../_domain/password.ts";

export const staffRoles = ["manager", "admin"] as const;

export const NewStaff = z.strictObject({
  email: z.string().trim().toLowerCase().max(320).meta({ format: "email" }).pipe(z.email()),
  full_name: personName,
  role: z.enum(staffRoles).default("manager"),
}).meta({ id: "NewStaff" });
export type NewStaff = z.output<typeof NewStaff>;

export const StaffMember = z.object({
  id: z.uuid(),
  email: z.string(),
  full_name: z.string(),
  role: z.enum(staffRoles),
  deactivated_at: timestamp.nullable().meta({ description: "null while they may sign in and work." }),
  created_at: timestamp,
  students_sold: z.number().int().min(0),
}).meta({ id: "StaffMember" });
export type StaffMember = z.output<typeof StaffMember>;

export const CreatedStaff = StaffMember.extend({
  password: z.string().meta({ description: "The generated password, shown once." }),
}).meta({ id: "CreatedStaff" });
export type CreatedStaff = z.output<typeof CreatedStaff>;

export const StaffList = z.object({ staff: z.array(StaffMember) }).meta({ id: "StaffList" });
export type StaffList = z.output<typeof StaffList>;

export const StaffParams = z.object({ id: z.uuid("a staff member's id (uuid)") });

export interface StaffDependencies {
  sql: Sql;
  authAdmin: AuthAdmin;
}

const defaults = (): StaffDependencies => ({ sql: db(), authAdmin: authAdmin() });

/** One staff member as the API shows them, built in SQL from `u`. */
function memberOf(sql: Sql | Transaction) {
  return sql`
    jsonb_build_object(
      'id', u.id, 'email', u.email, 'full_name', u.full_name, 'role', u.role, 'deactivated_at', u.deactivated_at,
      'created_at', u.created_at,
      -- The counts the triggers on tripwire_users keep per manager and status (analytics.manager_student_statuses):
      -- a few rows per manager, not a count of every student they sold (0.4–0.8 s at 1,000,000 students).
      'students_sold', coalesce((select sum(c.students)::int from analytics.manager_student_statuses c
                                 where c.manager_id = u.id), 0)
    )`;
}

/**
 * A new staff member: the login first (with an id we generate and a generated password), then the person; if
 * that fails, the login is deleted again. `actor` is the admin (null for the first one, made by bootstrap).
 */
export async function createStaff(
  actor: AuthUser | null,
  input: NewStaff,
  deps: StaffDependencies = defaults(),
): Promise<CreatedStaff> {
  const id = crypto.randomUUID();
  const password = generatePassword();
  const [taken] = await deps.sql`select 1 from public.users where email = ${input.email}`;
  if (taken) throw emailExists();
  await deps.authAdmin.createUser({
    id,
    email: input.email,
    password,
    appMetadata: { role: input.role, platform: "tripwire" },
    userMetadata: { full_name: input.full_name },
  });
  try {
    const member = await withTransaction(async (tx) => {
      if (actor) await actingAs(tx, actor);
      await tx`
        insert into public.users (id, email, full_name, role)
        values (${id}, ${input.email}, ${input.full_name}, ${input.role})`;
      const [row] = await tx<{ member: StaffMember }[]>`
        select ${memberOf(tx)} as member from public.users u where u.id = ${id}`;
      return row.member;
    }, deps.sql);
    return { ...member, password };
  } catch (error) {
    await deps.authAdmin.deleteUser(id).catch((failure) =>
      log("error", "compensation_failed", { user_id: id, error: describeError(failure) })
    );
    if (isUniqueViolation(error, ["users_email_key"])) throw emailExists();
    throw error;
  }
}

/** Every manager and admin, active first, then by name. */
export async function listStaff(sql: Sql = db()): Promise<StaffList> {
  const rows = await sql<{ member: StaffMember }[]>`
    select ${memberOf(sql)} as member from public.users u
    where u.role in ('manager', 'admin')
    order by u.deactivated_at is not null, u.full_name, u.id`;
  return { staff: rows.map((row) => row.member) };
}

const notFound = () => new HttpError(404, "staff_not_found", "No such manager or admin");

/**
 * Deactivates (`active` false) or reactivates a staff member: the person first (every function refuses them
 * from that moment), then their login's ban. Idempotent, so a retry after Supabase Auth failed finishes it.
 * Nobody deactivates themselves, and the last active admin stays.
 */
export async function setStaffActive(
  actor: AuthUser,
  staffId: string,
  active: boolean,
  deps: StaffDependencies = defaults(),
): Promise<StaffMember> {
  if (!active && staffId === actor.id) {
    throw new HttpError(409, "cannot_deactivate_self", "An admin cannot deactivate their own account");
  }
  const member = await withTransaction(async (tx) => {
    await actingAs(tx, actor);
    const [target] = await tx<{ role: string }[]>`
      select role from public.users where id = ${staffId} and role in ('manager', 'admin') for update`;
    if (!target) throw notFound();
    if (!active && target.role === "admin") {
      // Admins are few: taking the row locks of all of them keeps two deactivations at once from
      // leaving none.
      const [{ others }] = await tx<{ others: number }[]>`
        select count(*)::int as others from (
          select 1 from public.users where role = 'admin' and deactivated_at is null and id <> ${staffId} for update
        ) a`;
      if (others === 0) throw new HttpError(409, "last_admin", "The last active admin stays active");
    }
    await tx`
      update public.users set deactivated_at = ${active ? null : tx`coalesce(deactivated_at, now())`}
      where id = ${staffId}`;
    const [row] = await tx<{ member: StaffMember }[]>`
      select ${memberOf(tx)} as member from public.users u where u.id = ${staffId}`;
    return row.member;
  }, deps.sql);
  await deps.authAdmin.setBanned(staffId, !active);
  return member;
}

// The academy's staff: admins create managers and admins, list them, deactivate and reactivate them.
import { createApp, requireRole, zJson, zParam } from "../_shared/app.ts";
import { describe } from "../_shared/openapi.ts";
import {
  CreatedStaff,
  createStaff,
  listStaff,
  NewStaff,
  setStaffActive,
  StaffList,
  StaffMember,
  StaffParams,
} from "./staff.ts";

const adminOnly = { 403: "`forbidden`: not an admin." };
const oneMember = { ...adminOnly, 404: "`staff_not_found`: no manager or admin has this id." };

export const app = createApp("staff")
  .get(
    "/",
    describe({
      summary: "The academy's managers and admins",
      description: "Active first, then by name, with how many students each has sold.",
      access: "admin",
      ok: { status: 200, schema: StaffList, description: "Every staff member." },
      errors: adminOnly,
    }),
    requireRole("admin"),
    async (c) => c.json(await listStaff()),
  )
  .post(
    "/",
    describe({
      summary: "Create a manager (or an admin)",
      description: "A confirmed e-mail login with a generated password, shown once here (`no-store`), and " +
        "the staff member with their role. Audited.",
      access: "admin",
      ok: { status: 201, schema: CreatedStaff, description: "The new staff member and their password." },
      errors: { ...adminOnly, 409: "`email_exists`: someone already has this e-mail address." },
      okHeaders: {
        "cache-control": {
          description: "`no-store`: the body holds a password.",
          schema: { type: "string" },
        },
      },
    }),
    requireRole("admin"),
    zJson(NewStaff),
    async (c) => {
      c.header("cache-control", "no-store");
      return c.json(await createStaff(c.get("user"), c.req.valid("json")), 201);
    },
  )
  .post(
    "/:id/deactivate",
    describe({
      summary: "Deactivate a staff member",
      description:
        "They can no longer sign in (their login is banned) and every function refuses them (403 " +
        "`account_deactivated`); their students, sales and figures stay theirs. Idempotent. Audited.",
      access: "admin",
      ok: { status: 200, schema: StaffMember, description: "The staff member, deactivated." },
      errors: {
        ...oneMember,
        409: "`cannot_deactivate_self`, or `last_admin`: the last active admin stays active.",
        502:
          "`auth_unavailable`: Supabase Auth did not ban the login; retry (the functions refuse them already).",
      },
    }),
    requireRole("admin"),
    zParam(StaffParams),
    async (c) => c.json(await setStaffActive(c.get("user"), c.req.valid("param").id, false)),
  )
  .post(
    "/:id/reactivate",
    describe({
      summary: "Reactivate a staff member",
      description: "They may sign in and work again. Idempotent. Audited.",
      access: "admin",
      ok: { status: 200, schema: StaffMember, description: "The staff member, active again." },
      errors: { ...oneMember, 502: "`auth_unavailable`: Supabase Auth did not lift the ban; retry." },
    }),
    requireRole("admin"),
    zParam(StaffParams),
    async (c) => c.json(await setStaffActive(c.get("user"), c.req.valid("param").id, true)),
  );

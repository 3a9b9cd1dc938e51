// The audit trail: who did what to money, access or a person's data, from where, and what changed. Admins only.
import { createApp, requireRole, zQuery } from "../_shared/app.ts";
import { describe } from "../_shared/openapi.ts";
import { AuditPage, AuditQuery, readAudit } from "./audit.ts";

export const app = createApp("audit")
  .get(
    "/",
    describe({
      summary: "The audit trail",
      description: "Every staff action on money, access or personal data (creations, refunds, suspensions, " +
        "password resets, exports, erasures) and every change to the settings and the staff, newest first, a " +
        "page at a time (`after` = the last page's `next_cursor`). Append-only: nobody can change a row.",
      access: "admin",
      ok: { status: 200, schema: AuditPage, description: "A page of the trail." },
      errors: { 403: "`forbidden`: not an admin." },
    }),
    requireRole("admin"),
    zQuery(AuditQuery),
    async (c) => c.json(await readAudit(c.get("user"), c.req.valid("query"))),
  );

// A manager's students: the list, one student, and what happens after the sale (refund, suspension, a
// lost password).
import { createApp, requireRole, zJson, zParam, zQuery } from "../_shared/app.ts";
import { idempotencyKeyHeader, idempotencyKeyOf } from "../_domain/idempotency.ts";
import { negotiateLanguage } from "../_shared/language.ts";
import { describe } from "../_shared/openapi.ts";
import { Refund, refundStudent } from "../_domain/refunds.ts";
import { reactivateStudent, StatusChange, suspendStudent } from "../_domain/student_status.ts";
import { StudentSummary } from "../_domain/student_summary.ts";
import { getStudent, StudentDetail, StudentParams } from "./detail.ts";
import { listStudents, StudentList, StudentsQuery } from "./list.ts";
import { PasswordReset, resetPassword } from "./password_reset.ts";
import { Erased, eraseStudent, Erasure } from "../_domain/erasure.ts";
import { exportStudent, PersonExport } from "../_domain/personal_data.ts";
import {
  academyToday,
  auditExport,
  exportSales,
  exportStudents,
  SalesExportQuery,
  StudentsExportQuery,
} from "./exports.ts";

const notYours = { 404: "`student_not_found`: no such student among the caller's." };
const transitions = {
  ...notYours,
  409: "`illegal_transition`: not from the student's current status; `details.status` says which it is.",
};
const staff = requireRole("manager", "admin");
const noStore = {
  "cache-control": { description: "`no-store`: the body holds personal data.", schema: { type: "string" } },
};
const csvHeaders = {
  ...noStore,
  "content-disposition": {
    description: '`attachment; filename="students-2026-12-06.csv"`: browsers save it.',
    schema: { type: "string" },
  },
};

/** A streamed CSV answer, saved by browsers under `name` and the academy's today. */
async function csv(body: ReadableStream<Uint8Array>, name: string): Promise<Response> {
  return new Response(body, {
    headers: {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${name}-${await academyToday()}.csv"`,
      "cache-control": "no-store",
    },
  });
}

export const app = createApp("students")
  .get(
    "/",
    describe({
      summary: "The caller's students",
      description: "Newest first, a page at a time (`after` = the last page's `next_cursor`); filter by " +
        "status, by stage, and search name or e-mail. An admin sees everyone's, or one manager's.",
      access: "manager",
      ok: { status: 200, schema: StudentList, description: "A page of students." },
      errors: { 403: "`forbidden`: not staff, or a manager asking for another manager's students." },
    }),
    staff,
    zQuery(StudentsQuery),
    async (c) => c.json(await listStudents(c.get("user"), c.req.valid("query"))),
  )
  .get(
    "/export.csv",
    describe({
      summary: "The caller's students as CSV",
      description: "Every student the list would show with the same filters and order (no pages), one row " +
        "each: status, stage, manager, payment, refunds, activity, certificate, the order they came from. " +
        "Streamed from one query as it is read; text a person typed that starts like a formula (`=`, `+`, " +
        "`-`, `@`) is prefixed with `'`. UTF-8 with a BOM, CRLF lines.",
      access: "manager",
      ok: { status: 200, mediaType: "text/csv", description: "The students, with a header row." },
      errors: { 403: "`forbidden`: not staff, or a manager asking for another manager's students." },
      okHeaders: csvHeaders,
    }),
    staff,
    zQuery(StudentsExportQuery),
    async (c) => {
      await auditExport(c.get("user"), "students.csv", c.req.valid("query"));
      return await csv(exportStudents(c.get("user"), c.req.valid("query")), "students");
    },
  )
  .get(
    "/sales.csv",
    describe({
      summary: "The caller's sales and refunds as CSV",
      description: "The books: every sale (its payment, on its day) and every refund (negative, on its own " +
        "day), oldest first, days in the academy's time zone, `from`–`to` inclusive; what the revenue figures " +
        "add up. Streamed, formulas neutralised as in the students' export.",
      access: "manager",
      ok: { status: 200, mediaType: "text/csv", description: "Sales and refunds, with a header row." },
      errors: { 403: "`forbidden`: not staff, or a manager asking for another manager's sales." },
      okHeaders: csvHeaders,
    }),
    staff,
    zQuery(SalesExportQuery),
    async (c) => {
      await auditExport(c.get("user"), "sales.csv", c.req.valid("query"));
      return await csv(exportSales(c.get("user"), c.req.valid("query")), "sales");
    },
  )
  .get(
    "/:id",
    describe({
      summary: "One student in detail",
      description: "Lesson by lesson, the refunds, and this student's part of the activity feed.",
      access: "manager",
      ok: { status: 200, schema: StudentDetail, description: "The student." },
      errors: notYours,
      language: true,
    }),
    staff,
    negotiateLanguage,
    zParam(StudentParams),
    async (c) => c.json(await getStudent(c.get("user"), c.req.valid("param").id, c.get("language"))),
  )
  .post(
    "/:id/refund",
    describe({
      summary: "Refund a student",
      description:
        "At most what was paid and not yet refunded; refunds taken at once are serialised on the " +
        "sale, and the database holds their sum to the payment. A full refund ends access at once (heartbeats " +
        "and completions answer 403 `access_revoked`) and revokes the certificate; a partial one ends access " +
        "only when the academy's setting `partial_refund_ends_access` is on. The refund counts against " +
        "revenue on its own day. With an `Idempotency-Key`, a retry answers the first refund and takes " +
        "nothing more.",
      access: "manager",
      ok: { status: 200, schema: StudentSummary, description: "The student after the refund." },
      errors: {
        ...notYours,
        409: "`already_refunded`: the sale was refunded in full; `request_in_progress`: the first request " +
          "with this Idempotency-Key is still running.",
        422: "`refund_exceeds_payment` (`details.refundable`), or `idempotency_key_reused`.",
      },
      headers: [idempotencyKeyHeader],
    }),
    staff,
    zParam(StudentParams),
    zJson(Refund),
    async (c) => {
      const key = idempotencyKeyOf(c.req.header("idempotency-key"));
      const result = await refundStudent(c.get("user"), c.req.valid("param").id, c.req.valid("json"), {
        idempotencyKey: key,
      });
      if (result.replayed) c.header("idempotent-replayed", "true");
      return c.json(result.body);
    },
  )
  .post(
    "/:id/reset-password",
    describe({
      summary: "Reset a student's lost password",
      description: "A new generated password, shown once here and e-mailed to the student in the academy's " +
        "language; the old one stops working at once. Never stored in plain text.",
      access: "manager",
      ok: { status: 200, schema: PasswordReset, description: "The new password." },
      errors: { ...notYours, 502: "`auth_unavailable`: Supabase Auth did not change it; retry." },
      okHeaders: {
        "cache-control": {
          description: "`no-store`: the body holds a password.",
          schema: { type: "string" },
        },
      },
    }),
    staff,
    zParam(StudentParams),
    async (c) => {
      const reset = await resetPassword(c.get("user"), c.req.valid("param").id);
      c.header("cache-control", "no-store");
      return c.json(reset);
    },
  )
  .post(
    "/:id/suspend",
    describe({
      summary: "Suspend a student",
      description: "Access ends (as after a refund) but the sale still counts. From active or completed.",
      access: "manager",
      ok: { status: 200, schema: StudentSummary, description: "The student, suspended." },
      errors: transitions,
    }),
    staff,
    zParam(StudentParams),
    zJson(StatusChange),
    async (c) => c.json(await suspendStudent(c.get("user"), c.req.valid("param").id, c.req.valid("json"))),
  )
  .post(
    "/:id/reactivate",
    describe({
      summary: "Reactivate a suspended student",
      description:
        "Access again, as active (or completed, with a certificate). A refunded student stays refunded.",
      access: "manager",
      ok: { status: 200, schema: StudentSummary, description: "The student, active again." },
      errors: transitions,
    }),
    staff,
    zParam(StudentParams),
    zJson(StatusChange),
    async (c) => c.json(await reactivateStudent(c.get("user"), c.req.valid("param").id, c.req.valid("json"))),
  )
  .get(
    "/:id/export",
    describe({
      summary: "Everything held about a student",
      description: "One JSON document: the person, the login, the purchase and its refunds, progress, " +
        "watching, achievements, the certificate, the feed, e-mails and the audit trail about them (never a " +
        "password). Audited. A student downloads their own from `GET /student-dashboard/export`.",
      access: "admin",
      ok: { status: 200, schema: PersonExport, description: "The document." },
      errors: { 403: "`forbidden`: not an admin.", 404: "`student_not_found`: no such student." },
      okHeaders: noStore,
    }),
    requireRole("admin"),
    zParam(StudentParams),
    async (c) => {
      c.header("cache-control", "no-store");
      return c.json(await exportStudent(c.get("user"), c.req.valid("param").id));
    },
  )
  .post(
    "/:id/erase",
    describe({
      summary: "Erase a student",
      description: "Their name, e-mail and phone become tombstones wherever they were written, their login " +
        "and stored passwords are deleted, the certificate's public link stops working; the sale, its " +
        "refunds, progress counts and the leaderboard's figures stay exactly as they were. Audited, with " +
        "the reason. Cannot be undone.",
      access: "admin",
      ok: { status: 200, schema: Erased, description: "Erased." },
      errors: {
        403: "`forbidden`: not an admin.",
        404: "`student_not_found`: no such student.",
        409: "`already_erased`: this person was erased before.",
      },
    }),
    requireRole("admin"),
    zParam(StudentParams),
    zJson(Erasure),
    async (c) => c.json(await eraseStudent(c.get("user"), c.req.valid("param").id, c.req.valid("json"))),
  );

/**
 * Erasure of a person (docs/architecture.md, Personal data): who they were is replaced with tombstones and the
 * books stay as they were; audited. Apart from the export (personal_data.ts), so that a function that only
 * exports (the student's own dashboard) does not carry Auth's admin client.
 */
import { z } from "zod";
import { audit, personal } from "./audit.ts";
import type { AuthUser } from "../_shared/auth.ts";
import { type AuthAdmin, authAdmin } from "../_shared/auth_admin.ts";
import { removeStudentCertificateFiles } from "./certificate_files.ts";
import { db, type Sql, withTransaction } from "../_shared/db.ts";
import { HttpError } from "../_shared/errors.ts";
import { typedText } from "../_shared/input.ts";
import { timestamp } from "../_shared/openapi.ts";
import { notFound } from "./personal_data.ts";

export const Erasure = z.strictObject({ reason: typedText(1, 500) }).meta({ id: "Erasure" });
export type Erasure = z.output<typeof Erasure>;

export const Erased = z.object({
  id: z.uuid(),
  erased_at: timestamp,
  kept: z.array(z.string()).meta({ description: "What stays, without anything that names the person." }),
}).meta({ id: "Erased" });
export type Erased = z.output<typeof Erased>;

/** What erasure keeps, as the answer says it. */
const keptAfterErasure = [
  "the sale and its refunds",
  "progress and watching figures",
  "the leaderboard's figures",
];

/**
 * Erases a student: the certificate's stored PDFs (they print the name) are removed from Storage and the login
 * is deleted through Supabase Auth first (a retry finds them gone and goes on), then, in one transaction, the
 * tombstones (`private.erase_person`) and the audit row. A second erasure of
 * the same person answers 409 `already_erased` and changes nothing.
 */
export async function eraseStudent(
  caller: AuthUser,
  studentId: string,
  erasure: Erasure,
  deps: { sql: Sql; authAdmin: AuthAdmin } = { sql: db(), authAdmin: authAdmin() },
): Promise<Erased> {
  const [person] = await deps.sql<{ erased_at: Date | null }[]>`
    select u.erased_at from public.tripwire_users t join public.users u on u.id = t.user_id
    where t.user_id = ${studentId}`;
  if (!person) throw notFound();
  const [smoke] = await deps.sql`select 1 from private.smoke_tests where student_id = ${studentId}`;
  if (smoke) return await removeSmokeTest(caller, studentId, deps);
  if (person.erased_at) {
    throw new HttpError(409, "already_erased", "This person was erased already", {
      erased_at: person.erased_at.toISOString(),
    });
  }
  await removeStudentCertificateFiles(deps.sql, studentId);
  await deps.authAdmin.deleteUser(studentId);
  const erasedAt = await withTransaction(async (tx) => {
    const [locked] = await tx<{ erased_at: Date | null }[]>`
      select u.erased_at from public.users u where u.id = ${studentId} for update`;
    if (locked.erased_at) return null;
    const [{ erased_at }] = await tx<
      { erased_at: Date }[]
    >`select private.erase_person(${studentId}) as erased_at`;
    await audit(tx, {
      actor: caller,
      action: "student.erased",
      studentId,
      reason: erasure.reason,
      changes: Object.fromEntries(
        ["full_name", "email", "phone", "login"].map((
          field,
        ) => [field, { before: personal, after: "(erased)" }]),
      ),
    });
    return erased_at;
  }, deps.sql);
  if (!erasedAt) throw new HttpError(409, "already_erased", "This person was erased already");
  return { id: studentId, erased_at: erasedAt.toISOString(), kept: keptAfterErasure };
}

/**
 * A smoke-test student (`npm run smoke`) leaves nothing: the login goes through Supabase Auth, then every row
 * about them in one transaction (`private.remove_smoke_test`), so the books and figures are as they were; the
 * audit trail records the removal.
 */
async function removeSmokeTest(
  caller: AuthUser,
  studentId: string,
  deps: { sql: Sql; authAdmin: AuthAdmin },
): Promise<Erased> {
  await removeStudentCertificateFiles(deps.sql, studentId);
  await deps.authAdmin.deleteUser(studentId);
  const erasedAt = await withTransaction(async (tx) => {
    const [{ removed }] = await tx<
      { removed: boolean }[]
    >`select private.remove_smoke_test(${studentId}) as removed`;
    if (!removed) return null;
    await audit(tx, {
      actor: caller,
      action: "student.erased",
      studentId,
      reason: "smoke test: removed entirely",
      changes: { student: { before: personal, after: "(removed)" } },
    });
    return new Date();
  }, deps.sql);
  if (!erasedAt) throw notFound();
  return { id: studentId, erased_at: erasedAt.toISOString(), kept: [] };
}

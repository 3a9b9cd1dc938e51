/**
 * A person's data (docs/architecture.md, Personal data): everything the academy holds about a student as one
 * JSON document (an admin's, or the student's own), audited when staff export it. Erasure is `erasure.ts`.
 */
import { z } from "zod";
import { audit } from "./audit.ts";
import type { AuthUser } from "../_shared/auth.ts";
import { db, type Sql, withTransaction } from "../_shared/db.ts";
import { HttpError } from "../_shared/errors.ts";
import { timestamp } from "../_shared/openapi.ts";

const rowObject = z.record(z.string(), z.unknown());
const rows = z.array(rowObject);

/** The document `private.person_export` builds: each part is the stored rows, as they are. */
export const PersonExport = z.object({
  exported_at: timestamp,
  person: rowObject.nullable(),
  login: rowObject.nullable().meta({ description: "The sign-in account; null once it was deleted." }),
  purchase: rowObject.nullable(),
  refunds: rows,
  profile: rowObject.nullable(),
  statistics: rowObject.nullable(),
  modules_unlocked: rows,
  progress: rows,
  watching: rows,
  achievements: rows,
  certificate: rowObject.nullable(),
  activity: rows,
  emails: rows.meta({ description: "E-mails sent or queued to them (never a password)." }),
  audit: rows.meta({ description: "What staff did to their account and data." }),
}).meta({ id: "PersonExport" });
export type PersonExport = z.output<typeof PersonExport>;

export const notFound = () => new HttpError(404, "student_not_found", "No such student");

/** Everything held about `studentId`; an admin's export is audited. */
export async function exportStudent(
  caller: AuthUser,
  studentId: string,
  sql: Sql = db(),
): Promise<PersonExport> {
  return await withTransaction(async (tx) => {
    const [row] = await tx<{ document: unknown }[]>`
      select private.person_export(t.user_id) as document from public.tripwire_users t where t.user_id = ${studentId}`;
    if (!row) throw notFound();
    if (caller.role !== "student") await audit(tx, { actor: caller, action: "student.exported", studentId });
    return PersonExport.parse(row.document);
  }, sql);
}

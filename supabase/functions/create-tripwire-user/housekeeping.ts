/** The scheduler's housekeeping, which create-tripwire-user runs (`POST /create-tripwire-user/housekeeping`). */
import { z } from "zod";
import { db, type Sql } from "../_shared/db.ts";
import { log } from "../_shared/log.ts";

/** What the scheduler's housekeeping did (private.housekeeping, also a pg_cron job where pg_cron runs). */
export const Housekeeping = z.object({
  expired_idempotency_keys: z.number().int().min(0),
  abandoned_logins_deleted: z.number().int().min(0).meta({
    description: "Logins whose creation never wrote its student (a crash in between), deleted now.",
  }),
  old_emails_purged: z.number().int().min(0).meta({
    description: "Sent or failed e-mails older than 90 days, deleted now (retention).",
  }),
});
export type Housekeeping = z.output<typeof Housekeeping>;

/**
 * The housekeeping: expired idempotency keys (with the sealed passwords they kept), e-mails past their 90 days,
 * and the logins of creations that never wrote their student (a crash in between), 30 seconds after their note.
 */
export async function housekeeping(sql: Sql = db()): Promise<Housekeeping> {
  const [row] = await sql<{ report: unknown }[]>`select private.housekeeping() as report`;
  const report = Housekeeping.parse(row.report);
  if (report.abandoned_logins_deleted > 0) {
    log("warn", "abandoned_logins_deleted", { count: report.abandoned_logins_deleted });
  }
  return report;
}

/**
 * The second sale's scheduled jobs, for `npm start` and outside schedulers (pg_cron runs the SQL itself): the
 * minute refresh of the conversion figures and the quarter-hourly retention curves.
 */
import { db, type Sql } from "../_shared/db.ts";

const jobs = {
  conversion: "analytics.refresh_conversion()",
  retention: "analytics.refresh_retention()",
} as const;

/** Runs one job now and answers its report; a job at scale may outlast the statement timeout meant for requests. */
export async function runJob(job: keyof typeof jobs, sql: Sql = db()): Promise<Record<string, unknown>> {
  return await sql.begin(async (tx) => {
    await tx`set local statement_timeout = '10min'`;
    const [row] = await tx<{ report: Record<string, unknown> }[]>`select ${tx.unsafe(jobs[job])} as report`;
    return row.report;
  });
}

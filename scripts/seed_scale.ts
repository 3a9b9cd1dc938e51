/**
 * `npm run seed:scale -- --students 1000000 --managers 1000 [--years 1] [--seed 1]`: fills the local database
 * (DATABASE_URL, else the stack's embedded Postgres, started here if `npm start` is not running) with a
 * realistic history, set-based and deterministic from the seed (scripts/lib/scale_data.ts), sold over the
 * last `--years` years (the same students whatever the span, only their dates differ), showing a
 * progress bar with an ETA. Run again with more students to extend the same data; then the analytics
 * history is rebuilt and the leaderboard views refreshed.
 */
import postgres from "postgres";
import { parseArgs } from "node:util";
import { prepareDatabase, type RunningDatabase, startEmbeddedPostgres } from "./lib/database.ts";
import { databasePort, dataDir, localDatabaseUrl } from "./lib/local_stack.ts";
import { countScaleStudents, writeManagers, writeStudents } from "./lib/scale_data.ts";

/** `[#####.....]  42 %  420,000/1,000,000  12,345/s  ETA 0:47` on one terminal line. */
export function progressLine(done: number, total: number, startedMs: number, nowMs = Date.now()): string {
  const width = 30;
  const share = total === 0 ? 1 : done / total;
  const filled = Math.round(share * width);
  const seconds = (nowMs - startedMs) / 1000;
  const rate = seconds > 0 ? done / seconds : 0;
  const eta = rate > 0 ? (total - done) / rate : 0;
  const clock = (s: number) => `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, "0")}`;
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${
    String(Math.floor(share * 100)).padStart(3)
  } %  ` +
    `${done.toLocaleString("en")}/${total.toLocaleString("en")}  ${
      Math.round(rate).toLocaleString("en")
    }/s  ` +
    `ETA ${clock(eta)}`;
}

/** Writes managers and students up to `students` (what is there already is kept). */
export async function seedScale(
  url: string,
  options: { students: number; managers: number; seed: number; years?: number; quiet?: boolean },
): Promise<{ written: number; seconds: number }> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const started = Date.now();
  try {
    await writeManagers(sql, options.managers, options.seed, options.years);
    const from = await countScaleStudents(sql, options.seed);
    const encoder = new TextEncoder();
    await writeStudents(sql, {
      from,
      to: Math.max(from, options.students),
      managers: options.managers,
      seed: options.seed,
      years: options.years,
      onProgress: (done, total) => {
        if (!options.quiet) Deno.stdout.writeSync(encoder.encode(`\r${progressLine(done, total, started)}`));
      },
    });
    if (!options.quiet) console.log("");
    // The bulk load ran without triggers (scale_data.ts): the counts they keep per manager and status
    // (GET /staff, the leaderboard's active students) are recounted once from the rows.
    await sql.begin(async (tx) => {
      await tx`delete from analytics.manager_student_statuses`;
      await tx`
        insert into analytics.manager_student_statuses (manager_id, status, students)
        select t.granted_by, t.status, count(*) from public.tripwire_users t
        where t.granted_by is not null
        group by t.granted_by, t.status`;
    });
    await sql`analyze`;
    // The new history lies in days the analytics may have closed already: rebuild, not just extend.
    const [{ report }] = await sql`select analytics.refresh_sales_stats(rebuild => true) as report`;
    if (!options.quiet) console.log(`views refreshed: ${JSON.stringify(report.views)}`);
    return { written: Math.max(0, options.students - from), seconds: (Date.now() - started) / 1000 };
  } finally {
    await sql.end();
  }
}

async function reachable(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 2 });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      students: { type: "string", default: "100000" },
      managers: { type: "string", default: "1000" },
      seed: { type: "string", default: "1" },
      years: { type: "string", default: "1" },
    },
  });
  const students = Number(values.students);
  const managers = Number(values.managers);
  const seed = Number(values.seed);
  const years = Number(values.years);
  if (
    ![students, managers, seed].every(Number.isSafeInteger) || students < 0 || managers < 1 ||
    !(years > 0 && years <= 20)
  ) {
    console.error("usage: npm run seed:scale -- --students 1000000 --managers 1000 [--years 1] [--seed 1]");
    Deno.exit(2);
  }
  let database: RunningDatabase | undefined;
  let url = Deno.env.get("DATABASE_URL");
  if (!url) {
    url = localDatabaseUrl;
    if (!(await reachable(url))) {
      database = await startEmbeddedPostgres({ dataDir, port: databasePort, persistent: true });
      await prepareDatabase(url);
    }
  }
  try {
    console.log(
      `Writing ${
        students.toLocaleString("en")
      } students of ${managers} managers over ${years} years (seed ${seed})`,
    );
    const { written, seconds } = await seedScale(url, { students, managers, seed, years });
    console.log(`${written.toLocaleString("en")} students written in ${seconds.toFixed(1)} s`);
  } finally {
    await database?.stop();
  }
}

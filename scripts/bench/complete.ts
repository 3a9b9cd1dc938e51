/**
 * `npm run bench -- complete`: 100 students who watched lesson 67 complete it one at a time, then 100
 * more at concurrency 32, through POST /functions/v1/complete-lesson; the baseline of each row is the
 * same transaction straight through postgres.js (`completeLesson` without HTTP, JWT or the role read)
 * for as many other students.
 */
import postgres from "postgres";
import { completeLesson } from "../../supabase/functions/complete-lesson/complete_lesson.ts";
import { type BenchStudent, createStudents, watchFirstLesson } from "./learning.ts";
import { type BenchOptions, drive, figures, machine, type Row, startBenchStack, table } from "./lib.ts";

export async function run(options: BenchOptions): Promise<string> {
  const count = options.requests ?? 100;
  const concurrency = options.concurrency ?? 32;
  const stack = await startBenchStack();
  const sql = postgres(stack.databaseUrl, { max: stack.poolSize, onnotice: () => {} });
  try {
    const warmup = await createStudents(stack.functionsUrl, 20, "complete-warmup");
    await watchFirstLesson(sql, warmup);
    const viaHttp = (students: BenchStudent[]) => async (index: number) => {
      const response = await fetch(`${stack.functionsUrl}/complete-lesson`, {
        method: "POST",
        headers: { authorization: `Bearer ${students[index].token}`, "content-type": "application/json" },
        body: JSON.stringify({ lesson_id: 67 }),
      });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`${response.status} ${text.slice(0, 200)}`);
    };
    const viaSql = (students: BenchStudent[]) => async (index: number) => {
      await completeLesson(students[index].user, { lesson_id: 67 }, sql);
    };
    await drive(warmup.length, concurrency, viaHttp(warmup));

    const rows: Row[] = [];
    // Each completion needs a student who has not completed yet: fresh ones for every row.
    for (const workers of [1, concurrency]) {
      const rawStudents = await createStudents(stack.functionsUrl, count, `complete-raw-${workers}`);
      const httpStudents = await createStudents(stack.functionsUrl, count, `complete-http-${workers}`);
      await watchFirstLesson(sql, [...rawStudents, ...httpStudents]);
      const label = workers === 1 ? "one at a time" : `concurrency ${workers}`;
      console.log(`raw SQL and HTTP: ${count} completions each, ${label}`);
      const raw = await drive(count, workers, viaSql(rawStudents));
      const http = await drive(count, workers, viaHttp(httpStudents));
      for (const result of [raw, http]) {
        if (result.errors > 0) console.error(`errors: ${result.errors}: ${result.errorSamples.join(" | ")}`);
      }
      const baseline = `raw SQL (the completion transaction), ${label}`;
      rows.push(
        { name: baseline, figures: figures(raw) },
        { name: `POST /complete-lesson, ${label}`, figures: figures(http), baseline },
      );
    }
    return [
      `### complete — ${count} first-lesson completions one at a time and at concurrency ${concurrency}`,
      "",
      `Machine: ${await machine(
        stack.databaseUrl,
      )}. Function server: one Deno process, pool ${stack.poolSize}.`,
      "",
      table(rows),
    ].join("\n");
  } finally {
    await sql.end();
    await stack.stop();
  }
}

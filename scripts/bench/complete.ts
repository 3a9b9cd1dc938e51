/**
 * `npm run bench -- complete`: 100 students who watched lesson 67 complete it one at a time, then 100
 * more at concurrency 32, through POST /functions/v1/complete-lesson; the baseline of each row is the
 * same transaction straight through postgres.js (`completeLesson` without HTTP, JWT or the role read)
 * for as many other students.
 */
import postgres from "postgres";
import { completeLesson } from "../../supabase/functions/complete-lesson/complete_lesson.ts";
import { type BenchStudent, createStudents, watchFirstLesson } from "./learning.ts";
import {
  type BenchOptions,
  drive,
  measure,
  roundsOf,
  type Row,
  row,
  type ScenarioReport,
  startBenchStack,
  table,
} from "./lib.ts";
import { machine } from "./host.ts";

export async function run(options: BenchOptions): Promise<ScenarioReport> {
  const count = options.requests ?? (options.quick ? 30 : 100);
  const rounds = roundsOf(options);
  const concurrency = options.concurrency ?? 32;
  const stack = await startBenchStack();
  const sql = postgres(stack.databaseUrl, { max: stack.poolSize, onnotice: () => {} });
  try {
    const warmup = await createStudents(stack.databaseUrl, stack.functionsUrl, 20, "complete-warmup");
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
      await completeLesson(students[index].user, { lesson_id: 67 }, null, sql);
    };
    await drive(warmup.length, concurrency, viaHttp(warmup));

    const rows: Row[] = [];
    // Each completion needs a student who has not completed yet: fresh ones for every row.
    for (const workers of [1, concurrency]) {
      const label = workers === 1 ? "one at a time" : `concurrency ${workers}`;
      console.log(`raw SQL and HTTP: ${count} completions each, ${label}, ${rounds} round(s)`);
      const measureWith = (kind: "raw" | "http") =>
        measure(rounds, async (round) => {
          const students = await createStudents(
            stack.databaseUrl,
            stack.functionsUrl,
            count,
            `complete-${kind}-${workers}-${round}`,
          );
          await watchFirstLesson(sql, students);
          return await drive(count, workers, kind === "raw" ? viaSql(students) : viaHttp(students));
        });
      const raw = await measureWith("raw");
      const http = await measureWith("http");
      const baseline = `raw SQL (the completion transaction), ${label}`;
      rows.push(row(baseline, raw), row(`POST /complete-lesson, ${label}`, http, baseline));
    }
    const machineLabel = await machine(stack.databaseUrl);
    const markdown = [
      `### complete — ${count} first-lesson completions one at a time and at concurrency ${concurrency}`,
      "",
      `Machine: ${machineLabel}. Function server: one Deno process, pool ${stack.poolSize}.`,
      "",
      table(rows),
    ].join("\n");
    return { markdown, rows, machine: machineLabel };
  } finally {
    await sql.end();
    await stack.stop();
  }
}

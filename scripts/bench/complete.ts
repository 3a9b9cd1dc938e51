/**
 * `npm run bench -- complete`: 100 students who watched lesson 67 complete it at concurrency 32
 * through POST /functions/v1/complete-lesson, against the same transaction straight through
 * postgres.js (`completeLesson` without HTTP, JWT or the role read) for 100 other students.
 */
import postgres from "postgres";
import { completeLesson } from "../../supabase/functions/complete-lesson/complete_lesson.ts";
import { createStudents, watchFirstLesson } from "./learning.ts";
import { type BenchOptions, drive, figures, machine, startBenchStack, table } from "./lib.ts";

export async function run(options: BenchOptions): Promise<string> {
  const count = options.requests ?? 100;
  const concurrency = options.concurrency ?? 32;
  const stack = await startBenchStack();
  const sql = postgres(stack.databaseUrl, { max: stack.poolSize, onnotice: () => {} });
  try {
    const warmup = await createStudents(stack.functionsUrl, 20, "complete-warmup");
    const viaHttpStudents = await createStudents(stack.functionsUrl, count, "complete-http");
    const rawStudents = await createStudents(stack.functionsUrl, count, "complete-raw");
    await watchFirstLesson(sql, [...warmup, ...viaHttpStudents, ...rawStudents]);

    const viaHttp = (students: typeof warmup) => async (index: number) => {
      const response = await fetch(`${stack.functionsUrl}/complete-lesson`, {
        method: "POST",
        headers: { authorization: `Bearer ${students[index].token}`, "content-type": "application/json" },
        body: JSON.stringify({ lesson_id: 67 }),
      });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`${response.status} ${text.slice(0, 200)}`);
    };
    await drive(warmup.length, concurrency, viaHttp(warmup));
    console.log(`HTTP: ${count} completions at concurrency ${concurrency}`);
    const http = await drive(count, concurrency, viaHttp(viaHttpStudents));
    console.log(`raw SQL: ${count} completions at concurrency ${concurrency}`);
    const raw = await drive(count, concurrency, async (index) => {
      await completeLesson(rawStudents[index].user, { lesson_id: 67 }, sql);
    });

    for (const result of [http, raw]) {
      if (result.errors > 0) console.error(`errors: ${result.errors}: ${result.errorSamples.join(" | ")}`);
    }
    return [
      `### complete — ${count} first-lesson completions at concurrency ${concurrency}`,
      "",
      `Machine: ${await machine(
        stack.databaseUrl,
      )}. Function server: one Deno process, pool ${stack.poolSize}.`,
      "",
      table([
        { name: "raw SQL (the completion transaction)", figures: figures(raw) },
        {
          name: "POST /complete-lesson",
          figures: figures(http),
          baseline: "raw SQL (the completion transaction)",
        },
      ]),
    ].join("\n");
  } finally {
    await sql.end();
    await stack.stop();
  }
}

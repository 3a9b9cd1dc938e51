/**
 * `npm run bench -- heartbeat`: 100 students posting heartbeats at concurrency 32 through
 * POST /functions/v1/video-tracking, against the same UPDATE run straight through postgres.js
 * (`recordHeartbeat` without HTTP or the JWT) as the baseline of the ratio.
 */
import postgres from "postgres";
import { recordHeartbeat } from "../../supabase/functions/video-tracking/video_tracking.ts";
import { createStudents } from "./learning.ts";
import { type BenchOptions, drive, figures, machine, startBenchStack, table } from "./lib.ts";

export async function run(options: BenchOptions): Promise<string> {
  const requests = options.requests ?? (options.quick ? 500 : 10_000);
  const concurrency = options.concurrency ?? 32;
  const stack = await startBenchStack();
  try {
    const students = await createStudents(stack.functionsUrl, 100, "heartbeat");
    // Each student watches forward in 2 s steps; the segment lands inside the plausibility bucket.
    const segmentFor = (index: number) => {
      const step = Math.floor(index / students.length) % 290;
      return [[step * 2, step * 2 + 2]];
    };
    const viaHttp = async (index: number) => {
      const student = students[index % students.length];
      const response = await fetch(`${stack.functionsUrl}/video-tracking`, {
        method: "POST",
        headers: { authorization: `Bearer ${student.token}`, "content-type": "application/json" },
        body: JSON.stringify({ lesson_id: 67, segments: segmentFor(index), position: 0 }),
      });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`${response.status} ${text.slice(0, 200)}`);
    };
    console.log(`warm-up: ${Math.min(500, requests)} heartbeats`);
    await drive(Math.min(500, requests), concurrency, viaHttp);
    console.log(`HTTP: ${requests} heartbeats at concurrency ${concurrency}`);
    const http = await drive(requests, concurrency, viaHttp);

    const sql = postgres(stack.databaseUrl, { max: stack.poolSize, onnotice: () => {} });
    console.log(`raw SQL: ${requests} heartbeat UPDATEs at concurrency ${concurrency}`);
    const raw = await drive(requests, concurrency, async (index) => {
      const student = students[index % students.length];
      await recordHeartbeat(student.user.id, {
        lesson_id: 67,
        segments: segmentFor(index) as [number, number][],
      }, sql);
    });
    await sql.end();

    for (const result of [http, raw]) {
      if (result.errors > 0) console.error(`errors: ${result.errors}: ${result.errorSamples.join(" | ")}`);
    }
    return [
      `### heartbeat — ${requests} heartbeats from 100 students at concurrency ${concurrency}`,
      "",
      `Machine: ${await machine(
        stack.databaseUrl,
      )}. Function server: one Deno process, pool ${stack.poolSize}.`,
      "",
      table([
        { name: "raw SQL (the heartbeat UPDATE)", figures: figures(raw) },
        { name: "POST /video-tracking", figures: figures(http), baseline: "raw SQL (the heartbeat UPDATE)" },
      ]),
    ].join("\n");
  } finally {
    await stack.stop();
  }
}

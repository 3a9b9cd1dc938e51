/**
 * `npm run bench -- students [--students 1000000]`: on generated data (scripts/lib/scale_data.ts), the
 * screens' reads through HTTP — a manager's first page of students, a manager's search, an admin's
 * search over everyone, who stalled (sorted and filtered by last activity), a student's dashboard — and, in the same run on the same data, the approach the
 * seeds started with for the admin's search: load every student row and filter in TypeScript.
 */
import postgres from "postgres";
import { seedScale } from "../seed_scale.ts";
import { signLocalToken } from "../lib/local_stack.ts";
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

const seed = 1;
const saule = { id: "a0000000-0000-4000-8000-000000000001", email: "saule.admin@tripwire.local" };

/** The seeds' search: every student row into the function, filtered and sorted there, the first page. */
export async function searchInTypeScript(sql: postgres.Sql, q: string, limit = 20) {
  const rows = await sql<{ user_id: string; full_name: string; email: string; created_at: Date }[]>`
    select user_id, full_name, email, created_at from public.tripwire_users`;
  const needle = q.toLowerCase();
  return rows
    .filter((row) => `${row.full_name.toLowerCase()} ${row.email}`.includes(needle))
    .sort((a, b) => b.created_at.getTime() - a.created_at.getTime() || (a.user_id < b.user_id ? 1 : -1))
    .slice(0, limit);
}

export async function run(options: BenchOptions): Promise<ScenarioReport> {
  const sizes = options.students ?? (options.quick ? [10_000] : [1_000_000]);
  const rounds = roundsOf(options);
  const managers = options.quick ? 100 : 1000;
  const reads = options.requests ?? (options.quick ? 100 : 500);
  const stack = await startBenchStack();
  const sql = postgres(stack.databaseUrl, { max: stack.poolSize, onnotice: () => {} });
  const allRows: Row[] = [];
  const sections: string[] = [];
  try {
    for (const size of sizes) {
      console.log(`data: ${size.toLocaleString("en")} students of ${managers} managers`);
      await seedScale(stack.databaseUrl, { students: size, managers, seed });
      await sql`analyze public.tripwire_users`;
      const [manager] = await sql<{ id: string; email: string }[]>`
        select id, email from public.users where role = 'manager' and email like ${`manager.${seed}.%`} limit 1`;
      const [student] = await sql<{ id: string; email: string }[]>`
        select user_id as id, email from public.tripwire_users where granted_by = ${manager.id}
        order by created_at desc limit 1`;
      // A manager looks for one of their own by part of the name; an admin for the same among everyone.
      const [{ name }] = await sql<{ name: string }[]>`
        select split_part(full_name, ' ', 2) as name from public.tripwire_users where user_id = ${student.id}`;
      const adminTerm = name;
      const weekAgo = encodeURIComponent(new Date(Date.now() - 7 * 86_400_000).toISOString());
      const [managerToken, adminToken, studentToken] = await Promise.all([
        signLocalToken(sql, manager),
        signLocalToken(sql, saule),
        signLocalToken(sql, student),
      ]);
      const get = (path: string, token: string) => async () => {
        const response = await fetch(`${stack.functionsUrl}/${path}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        const body = await response.text();
        if (response.status !== 200) throw new Error(`${path}: ${response.status} ${body.slice(0, 200)}`);
      };
      const cases: [string, string, string][] = [
        ["GET /students (a manager's first page)", "students?limit=20", managerToken],
        [`GET /students?q=${name} (a manager's search)`, `students?q=${name}`, managerToken],
        [`GET /students?q=${adminTerm} (an admin's search over all)`, `students?q=${adminTerm}`, adminToken],
        [
          "GET /students?sort=idle_longest&inactive_since=… (a manager's stalled, a week idle)",
          `students?sort=idle_longest&inactive_since=${weekAgo}`,
          managerToken,
        ],
        [
          "GET /students?sort=recently_active (a manager's most recent)",
          "students?sort=recently_active",
          managerToken,
        ],
        [
          "GET /students?sort=idle_longest (an admin's stalled, over all)",
          "students?sort=idle_longest",
          adminToken,
        ],
        ["GET /student-dashboard", "student-dashboard", studentToken],
      ];
      const label = `${size.toLocaleString("en")} students`;
      console.log(`reads: ${reads} one at a time each; the TypeScript search`);
      const jsRuns = size >= 1_000_000 ? 3 : 5;
      const js = await measure(
        1,
        () => drive(jsRuns, 1, async () => void await searchInTypeScript(sql, adminTerm)),
      );
      const typescriptRow = `TypeScript: every row loaded and filtered (admin search), ${label}`;
      const rows: Row[] = [row(typescriptRow, js)];
      for (const [title, path, token] of cases) {
        await drive(30, 1, get(path, token));
        const result = await measure(rounds, () => drive(reads, 1, get(path, token)));
        rows.push(row(`${title}, ${label}`, result, typescriptRow));
        // Sixteen at once, as a busy morning's managers: the p99 beside the lone read's.
        const concurrent = await measure(rounds, () => drive(reads * 2, 16, get(path, token)));
        rows.push(row(`… at concurrency 16`, concurrent, `${title}, ${label}`));
      }
      allRows.push(...rows);
      sections.push(table(rows));
    }
    const machineLabel = await machine(stack.databaseUrl);
    const markdown = [
      `### students — ${managers} managers, reads one at a time and sixteen at once`,
      "",
      `Machine: ${machineLabel}. Function server: one Deno process, pool ${stack.poolSize}.`,
      "",
      ...sections.flatMap((section) => [section, ""]),
    ].join("\n");
    return { markdown, rows: allRows, machine: machineLabel };
  } finally {
    await sql.end();
    await stack.stop();
  }
}

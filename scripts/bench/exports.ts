/**
 * `npm run bench -- exports [--students 1000000]`: an admin's CSV export of every student (and of every sale and
 * refund) through HTTP from the `students` bundle as `supabase functions deploy` builds it, alone in its own
 * process as an isolate is, streamed from one cursor, against — in the same run, on the same data — the obvious
 * way: the same rows loaded into memory at once and joined into one string. Besides the time, what Supabase
 * limits is the point: the function's CPU per export (2 s per request) and its peak resident memory (256 MB),
 * VmHWM before and after; the baseline runs in a process of its own.
 */
import postgres from "postgres";
import { seedScale } from "../seed_scale.ts";
import { startDeployedStack } from "../lib/deployed.ts";
import { signLocalToken } from "../lib/local_stack.ts";
import {
  type BenchOptions,
  deployedBenchEnv,
  drive,
  measure,
  type Row,
  row,
  type ScenarioReport,
  startBenchStack,
  table,
} from "./lib.ts";
import { cpuTally, machine, peakMemoryMiB } from "./host.ts";

const seed = 1;
const saule = { id: "a0000000-0000-4000-8000-000000000001", email: "saule.admin@tripwire.local" };

/** The baseline, in a process of its own: every row at once, one CSV string; prints its peak memory. */
const bufferedExport = `
import postgres from "postgres";
const sql = postgres(Deno.args[0], { max: 1, onnotice: () => {} });
const rows = await sql\`select t.user_id, t.full_name, t.email, t.phone, t.status, t.granted_by, t.payment_amount,
  t.refunded_amount, t.created_at, a.last_activity_at
  from public.tripwire_users t join private.student_activity a on a.user_id = t.user_id order by t.created_at desc\`;
const csv = rows.map((r) => Object.values(r).map((v) => JSON.stringify(v ?? "")).join(",")).join("\\r\\n");
await sql.end();
const status = Deno.readTextFileSync("/proc/self/status");
console.log(JSON.stringify({ bytes: csv.length, rows: rows.length,
  peakMiB: Number(status.match(/^VmHWM:\\s+(\\d+) kB/m)?.[1]) / 1024 }));
`;

async function runBuffered(databaseUrl: string): Promise<{ bytes: number; rows: number; peakMiB: number }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", bufferedExport, databaseUrl],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error("the buffered export failed");
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

export async function run(options: BenchOptions): Promise<ScenarioReport> {
  const size = options.students?.[0] ?? (options.quick ? 10_000 : 1_000_000);
  const rounds = options.quick ? 1 : Math.max(1, Math.min(options.rounds ?? 3, 3));
  const managers = options.quick ? 100 : 1000;
  const stack = await startBenchStack();
  const sql = postgres(stack.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    console.log(`data: ${size.toLocaleString("en")} students of ${managers} managers`);
    await seedScale(stack.databaseUrl, { students: size, managers, seed });
    await sql`analyze`;
    const token = await signLocalToken(sql, saule);
    const deployed = await startDeployedStack({
      env: deployedBenchEnv(stack.databaseUrl, 3),
      names: ["students"],
    });
    const [functionPid] = deployed.instancePids("students");
    const cpu = cpuTally();
    let lastRows = 0;
    let lastBytes = 0;
    const download = (path: string) => async () => {
      cpu.start(path, { function: [functionPid] });
      const response = await fetch(`${deployed.url}/functions/v1/${path}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      if (response.status !== 200) throw new Error(`${path}: ${response.status} ${await response.text()}`);
      let bytes = 0;
      let lines = 0;
      for await (const chunk of response.body!) {
        bytes += chunk.length;
        for (const byte of chunk) if (byte === 10) lines++;
      }
      cpu.stop();
      lastRows = lines - 1;
      lastBytes = bytes;
    };
    const before = peakMemoryMiB(functionPid);
    const label = `${size.toLocaleString("en")} students`;
    const students = await measure(rounds, () => drive(1, 1, download("students/export.csv")));
    const studentRows = lastRows;
    const studentBytes = lastBytes;
    const after = peakMemoryMiB(functionPid);
    const sales = await measure(rounds, () => drive(1, 1, download("students/sales.csv")));
    const saleRows = lastRows;
    const afterSales = peakMemoryMiB(functionPid);
    await deployed.stop();
    const cpuPerExport = (path: string) => (cpu.totals[path].function / rounds).toFixed(2);
    if (studentRows !== size) throw new Error(`the export had ${studentRows} rows, not ${size}`);
    console.log("the baseline: every row in memory, one string");
    const buffered = await measure(
      rounds,
      () => drive(1, 1, async () => void await runBuffered(stack.databaseUrl)),
    );
    const baseline = await runBuffered(stack.databaseUrl);

    const baselineRow = `TypeScript: every student row loaded at once, one string (own process), ${label}`;
    const rows: Row[] = [
      row(baselineRow, buffered),
      row(`GET /students/export.csv (streamed, admin, all), ${label}`, students, baselineRow),
      row(`GET /students/sales.csv (streamed, admin, all ${saleRows.toLocaleString("en")} rows)`, sales),
    ];
    const mib = (value: number | undefined) => value === undefined ? "n/a" : `${value.toFixed(0)} MiB`;
    const machineLabel = await machine(stack.databaseUrl);
    const markdown = [
      `### exports — an admin's CSV of every student, ${label}`,
      "",
      `Machine: ${machineLabel}. Function server: the \`students\` deploy bundle alone in one Deno process, ` +
      `pool 3. One export at a ` +
      `time; the latency is the whole download (${(studentBytes / 1_048_576).toFixed(0)} MiB of CSV); the ` +
      "baseline's includes starting its process (about 0.1 s): its memory is the comparison that matters.",
      "",
      table(rows),
      "",
      `Peak resident memory (VmHWM) of the function server: ${mib(before)} before the exports, ${
        mib(after)
      } after the students' export, ${mib(afterSales)} after the sales'. The baseline's own process, ` +
      `holding the ${baseline.rows.toLocaleString("en")} rows and their string: ${mib(baseline.peakMiB)}. ` +
      `The function's CPU per export (Supabase allows 2 s a request): ${
        cpuPerExport("students/export.csv")
      } s ` +
      `for the students', ${cpuPerExport("students/sales.csv")} s for the sales'.`,
    ].join("\n");
    return { markdown, rows, machine: machineLabel };
  } finally {
    await sql.end();
    await stack.stop();
  }
}

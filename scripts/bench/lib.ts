/**
 * What every benchmark scenario shares: a fresh local stack to measure, a closed-loop load driver
 * (C workers, each sending its next request when the last one answered), and the figures.
 */
import postgres from "postgres";
import { withDatabase } from "../lib/database.ts";
import { freePort, startScratchPostgres, startStackProcess } from "../lib/processes.ts";

export interface BenchOptions {
  quick: boolean;
  /** Overrides of a scenario's defaults, from `--requests N --concurrency C`. */
  requests?: number;
  concurrency?: number;
  /** Data sizes for the scenarios that generate data (leaderboard), from `--students 100000,1000000`. */
  students?: number[];
}

export interface BenchStack {
  /** http://127.0.0.1:<port>/functions/v1 */
  functionsUrl: string;
  databaseUrl: string;
  /** The functions' pool size per process (DB_POOL_SIZE), for a raw-SQL baseline of equal means. */
  poolSize: number;
  stop(): Promise<void>;
}

/**
 * A stack that only this benchmark uses: an embedded Postgres in a temporary folder (or a new
 * database on DATABASE_URL's server, dropped afterwards), and `npm start` on it (migrations, seed,
 * function server) in its own process, so the load driver does not share its event loop.
 */
export async function startBenchStack(): Promise<BenchStack> {
  const given = Deno.env.get("DATABASE_URL");
  let databaseUrl: string;
  let dropDatabase: () => Promise<void>;
  if (given) {
    const name = `tripwire_bench_${Date.now()}`;
    const admin = postgres(given, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    await admin.end();
    databaseUrl = withDatabase(given, name);
    dropDatabase = async () => {
      const admin = postgres(given, { max: 1, onnotice: () => {} });
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    };
  } else {
    const database = await startScratchPostgres("tripwire-bench-pg-");
    databaseUrl = database.url;
    dropDatabase = database.stop;
  }
  const port = freePort();
  const poolSize = 10;
  const stack = await startStackProcess({
    DATABASE_URL: databaseUrl,
    FUNCTIONS_PORT: String(port),
    DB_POOL_SIZE: String(poolSize),
    SCHEDULER_INTERVAL_MS: "0",
  });
  return {
    functionsUrl: `http://127.0.0.1:${port}/functions/v1`,
    databaseUrl,
    poolSize,
    async stop() {
      await stack.stop();
      await dropDatabase();
    },
  };
}

export interface RunResult {
  requests: number;
  concurrency: number;
  errors: number;
  /** The first few distinct error descriptions, to say what went wrong. */
  errorSamples: string[];
  seconds: number;
  latenciesMs: number[];
}

/** Runs `task(i)` for i in [0, total) with `concurrency` workers; a thrown error counts as an error. */
export async function drive(
  total: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<RunResult> {
  const latenciesMs: number[] = [];
  const errorSamples = new Set<string>();
  let errors = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, async () => {
    while (next < total) {
      const index = next++;
      const begun = performance.now();
      try {
        await task(index);
        latenciesMs.push(performance.now() - begun);
      } catch (error) {
        errors++;
        if (errorSamples.size < 3) errorSamples.add(error instanceof Error ? error.message : String(error));
      }
    }
  }));
  return {
    requests: total,
    concurrency,
    errors,
    errorSamples: [...errorSamples],
    seconds: (performance.now() - started) / 1000,
    latenciesMs,
  };
}

export interface Figures {
  p50: number;
  p95: number;
  p99: number;
  perSecond: number;
  errors: number;
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)];
}

/** p50/p95/p99 latency (ms) and completed requests per second. */
export function figures(result: RunResult): Figures {
  const sorted = [...result.latenciesMs].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    perSecond: result.latenciesMs.length / result.seconds,
    errors: result.errors,
  };
}

/** Cores, memory and Postgres version: absolute numbers mean nothing without them. */
export async function machine(databaseUrl: string): Promise<string> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  const [{ version }] = await sql<{ version: string }[]>`select current_setting('server_version') as version`;
  await sql.end();
  const memoryGiB = Deno.systemMemoryInfo().total / 1024 ** 3;
  return `${navigator.hardwareConcurrency} cores, ${memoryGiB.toFixed(0)} GiB RAM, ${Deno.build.os}, ` +
    `PostgreSQL ${version}, Deno ${Deno.version.deno}`;
}

/** One line of a results table; `baseline` names the row its ratios are taken against. */
export interface Row {
  name: string;
  figures: Figures;
  baseline?: string;
}

/** A Markdown table of named figures; a row with a `baseline` shows its ratios against that row. */
export function table(rows: Row[]): string {
  const lines = [
    "| scenario | p50 ms | p95 ms | p99 ms | per second | errors | p50 vs baseline | throughput vs baseline |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const { name, figures: f, baseline } of rows) {
    const base = rows.find((row) => row.name === baseline)?.figures;
    const ratio = (value: number) => base ? `${value.toFixed(2)}×` : "baseline";
    lines.push(
      `| ${name} | ${f.p50.toFixed(1)} | ${f.p95.toFixed(1)} | ${f.p99.toFixed(1)} | ${
        f.perSecond.toFixed(0)
      } | ` +
        `${f.errors} | ${ratio(f.p50 / (base?.p50 ?? 1))} | ${ratio(f.perSecond / (base?.perSecond ?? 1))} |`,
    );
  }
  return lines.join("\n");
}

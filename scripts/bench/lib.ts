/**
 * What every benchmark scenario shares: a fresh local stack to measure, a closed-loop load driver
 * (C workers, each sending its next request when the last one answered), rounds with their median and
 * spread, the figures and the report every scenario returns (printed, kept as JSON, written to the docs).
 */
import postgres from "postgres";
import { localJwtSecret, localSecretKey } from "../lib/local_stack.ts";
import { freePort, scratchDatabase, startStackProcess } from "../lib/processes.ts";

export interface BenchOptions {
  quick: boolean;
  /** Overrides of a scenario's defaults, from `--requests N --concurrency C`. */
  requests?: number;
  concurrency?: number;
  /** Data sizes for the scenarios that generate data (leaderboard), from `--students 100000,1000000`. */
  students?: number[];
  /** Years of history for the analytics scenario, from `--years 1,2,3`. */
  years?: number[];
  /** Measured rounds per row (median and spread are reported); default 3, 1 with --quick. */
  rounds?: number;
}

/** How many measured rounds a row gets. */
export function roundsOf(options: BenchOptions): number {
  return options.rounds ?? (options.quick ? 1 : 3);
}

/** What a scenario hands back: its tables as Markdown, and the same figures as data for the JSON file. */
export interface ScenarioReport {
  markdown: string;
  /** Cores, memory, Postgres and Deno versions of the run. */
  machine: string;
  rows: Row[];
  /** Anything else measured (memory, connections, refresh times…), kept in the JSON file. */
  extra?: Record<string, unknown>;
}

export interface BenchStack {
  /** http://127.0.0.1:<port>/functions/v1 */
  functionsUrl: string;
  databaseUrl: string;
  /** The functions' pool size per process (DB_POOL_SIZE), for a raw-SQL baseline of equal means. */
  poolSize: number;
  /** The function server's process id (its memory is measured). */
  serverPid: number;
  stop(): Promise<void>;
}

/** The functions' pool size per process in every bench stack. */
const benchPoolSize = 10;

/**
 * `npm start` on `databaseUrl` in its own process, so the load driver does not share its event loop: one more
 * function server as the bench stack's, with `env` on top.
 */
export async function startBenchServer(
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<{ functionsUrl: string; serverPid: number; stop(): Promise<Deno.CommandStatus> }> {
  const port = freePort();
  const stack = await startStackProcess({
    DATABASE_URL: databaseUrl,
    FUNCTIONS_PORT: String(port),
    DB_POOL_SIZE: String(benchPoolSize),
    SCHEDULER_INTERVAL_MS: "0",
    // The benchmarks measure throughput, so the abuse limits (a student's heartbeats a second, a manager's
    // creations a minute) are lifted; their cost in the statements stays measured.
    HEARTBEATS_PER_SECOND: "1000000",
    ...env,
  });
  return {
    functionsUrl: `http://127.0.0.1:${port}/functions/v1`,
    serverPid: stack.child.pid,
    stop: () => stack.stop(),
  };
}

/**
 * A stack that only this benchmark uses: an embedded Postgres in a temporary folder (or a new
 * database on DATABASE_URL's server, dropped afterwards), and `npm start` on it (migrations, seed,
 * function server) in its own process.
 */
export async function startBenchStack(env: Record<string, string> = {}): Promise<BenchStack> {
  const database = await scratchDatabase("tripwire_bench_");
  const databaseUrl = database.url;
  Deno.env.set("HEARTBEATS_PER_SECOND", "1000000");
  const server = await startBenchServer(databaseUrl, env);
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  await sql`update academy.settings set student_creations_per_minute = 1000000, provider_orders_per_minute = 1000000`
    .finally(() => sql.end());
  return {
    functionsUrl: server.functionsUrl,
    databaseUrl,
    poolSize: benchPoolSize,
    serverPid: server.serverPid,
    async stop() {
      await server.stop();
      await database.stop();
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

/** One row's figures over all its rounds' requests, pooled (p99 of every request, not a median of p99s). */
export function pooled(results: RunResult[]): Figures {
  return figures({
    requests: results.reduce((sum, result) => sum + result.requests, 0),
    concurrency: results[0].concurrency,
    errors: results.reduce((sum, result) => sum + result.errors, 0),
    errorSamples: results.flatMap((result) => result.errorSamples),
    seconds: results.reduce((sum, result) => sum + result.seconds, 0),
    latenciesMs: results.flatMap((result) => result.latenciesMs),
  });
}

/**
 * Rounds interleaved across sides (round 1 of every side, then round 2…), so a host that slows down midway
 * slows every side alike; each side's figures are its rounds' requests pooled. `before`/`after` wrap each
 * round (to count what it cost).
 */
export async function interleaved<Name extends string>(
  rounds: number,
  sides: Record<Name, () => Promise<RunResult>>,
  around?: {
    before(name: Name): void | Promise<void>;
    after(name: Name, result: RunResult): void | Promise<void>;
    /** Every other round the other way round (A B, B A, …): a drift over the run then weighs on both sides. */
    alternate?: boolean;
  },
): Promise<Record<Name, { figures: Figures; rounds: Figures[] }>> {
  const names = Object.keys(sides) as Name[];
  const results = Object.fromEntries(names.map((name) => [name, [] as RunResult[]])) as Record<
    Name,
    RunResult[]
  >;
  for (let round = 0; round < rounds; round++) {
    for (const name of around?.alternate && round % 2 === 1 ? [...names].reverse() : names) {
      console.log(`round ${round + 1}: ${name}`);
      await around?.before(name);
      const result = await sides[name]();
      await around?.after(name, result);
      results[name].push(result);
      if (result.errorSamples.length) console.error(`errors: ${result.errorSamples.join(" | ")}`);
    }
  }
  return Object.fromEntries(
    names.map((name) => [name, { figures: pooled(results[name]), rounds: results[name].map(figures) }]),
  ) as Record<Name, { figures: Figures; rounds: Figures[] }>;
}

/** Where pgbench is, or undefined: it comes with Debian's postgresql-client, not with npm. */

export interface Row {
  name: string;
  /** The median round's figures (each figure the median over the rounds). */
  figures: Figures;
  /** Every round's figures, when there were several. */
  rounds?: Figures[];
  baseline?: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Runs `round(i)` `count` times (each a whole measurement) and keeps every round's figures. */
export async function measure(
  count: number,
  round: (index: number) => Promise<RunResult>,
): Promise<{ figures: Figures; rounds: Figures[]; errorSamples: string[] }> {
  const rounds: Figures[] = [];
  const errorSamples: string[] = [];
  for (let index = 0; index < count; index++) {
    const result = await round(index);
    rounds.push(figures(result));
    errorSamples.push(...result.errorSamples);
  }
  if (errorSamples.length) console.error(`errors: ${errorSamples.slice(0, 3).join(" | ")}`);
  const pick = (key: keyof Figures) => median(rounds.map((f) => f[key]));
  return {
    figures: {
      p50: pick("p50"),
      p95: pick("p95"),
      p99: pick("p99"),
      perSecond: pick("perSecond"),
      errors: rounds.reduce((sum, f) => sum + f.errors, 0),
    },
    rounds,
    errorSamples,
  };
}

/** A row from `measure`'s result. */
export function row(
  name: string,
  measured: { figures: Figures; rounds: Figures[] },
  baseline?: string,
): Row {
  return { name, figures: measured.figures, rounds: measured.rounds, baseline };
}

/** The peak resident memory (VmHWM) of a process in MiB, from /proc; undefined where there is none. */

export function table(rows: Row[]): string {
  const lines = [
    "| scenario | p50 ms | p95 ms | p99 ms | per second | errors | p50 vs baseline | throughput vs baseline | " +
    "rounds: p50 range, p99 range, per second range |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const { name, figures: f, baseline, rounds } of rows) {
    const base = rows.find((other) => other.name === baseline)?.figures;
    const ratio = (value: number) => base ? `${value.toFixed(2)}×` : "baseline";
    const range = (values: number[], digits: number) =>
      `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
    const spread = rounds && rounds.length > 1
      ? `${rounds.length}: ${range(rounds.map((r) => r.p50), 1)} ms, ${
        range(rounds.map((r) => r.p99), 1)
      } ms, ${range(rounds.map((r) => r.perSecond), 0)}/s`
      : "1";
    lines.push(
      `| ${name} | ${f.p50.toFixed(1)} | ${f.p95.toFixed(1)} | ${f.p99.toFixed(1)} | ${
        f.perSecond.toFixed(0)
      } | ` +
        `${f.errors} | ${ratio(f.p50 / (base?.p50 ?? 1))} | ${
          ratio(f.perSecond / (base?.perSecond ?? 1))
        } | ` +
        `${spread} |`,
    );
  }
  return lines.join("\n");
}

/** CPU seconds (user + system) a process has used so far, from /proc; 0 where it is gone. */

export function deployedBenchEnv(databaseUrl: string, pool: number): Record<string, string> {
  return {
    SUPABASE_DB_URL: databaseUrl,
    SUPABASE_ANON_KEY: "sb_publishable_bench",
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: localSecretKey }),
    JWT_SECRET: localJwtSecret,
    LOCAL_STACK: "on",
    DB_POOL_SIZE: String(pool),
    HEARTBEATS_PER_SECOND: "1000000",
  };
}

/** The postmaster (process id) of the Postgres server at `databaseUrl`: the parent of a backend. */

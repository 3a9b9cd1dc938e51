/**
 * What a benchmark reads of the host it runs on: its machine, pgbench's ceiling, a process's memory and CPU
 * (from /proc), Postgres' own CPU, and the connections a run holds. Figures compare only within one run.
 */
import postgres from "postgres";
export function findPgbench(): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      Deno.statSync(`${dir}/pgbench`);
      return `${dir}/pgbench`;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * pgbench's transactions a second for `script` (pgbench's script language) at `clients` clients for
 * `seconds`, against `databaseUrl`; `prepared` statements only where no transaction pooler is between.
 * `initScale` first runs `pgbench -i -s <scale>` there.
 */
export async function pgbenchTps(options: {
  pgbench: string;
  databaseUrl: string;
  script: string;
  clients: number;
  seconds: number;
  prepared?: boolean;
  initScale?: number;
}): Promise<number> {
  const target = new URL(options.databaseUrl);
  const env = {
    PGHOST: target.hostname,
    PGPORT: target.port || "5432",
    PGUSER: decodeURIComponent(target.username),
    PGPASSWORD: decodeURIComponent(target.password),
    PGDATABASE: decodeURIComponent(target.pathname.slice(1)),
  };
  const scriptFile = await Deno.makeTempFile({ suffix: ".sql" });
  try {
    await Deno.writeTextFile(scriptFile, options.script);
    if (options.initScale) {
      const init = await new Deno.Command(options.pgbench, {
        args: ["-i", "-s", String(options.initScale), "-q"],
        env,
        stderr: "piped",
      }).output();
      if (!init.success) throw new Error(new TextDecoder().decode(init.stderr));
    }
    const run = await new Deno.Command(options.pgbench, {
      args: [
        "-n",
        "-M",
        options.prepared ? "prepared" : "simple",
        "-c",
        String(options.clients),
        "-j",
        "2",
        "-T",
        String(options.seconds),
        "-f",
        scriptFile,
      ],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const printed = new TextDecoder().decode(run.stdout);
    const tps = Number(printed.match(/tps = ([\d.]+)/)?.[1]);
    if (!run.success || !Number.isFinite(tps)) {
      throw new Error(printed + new TextDecoder().decode(run.stderr));
    }
    return tps;
  } finally {
    await Deno.remove(scriptFile);
  }
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

export function peakMemoryMiB(pid: number): number | undefined {
  return memoryMiB(pid, "VmHWM");
}

/** A process's resident memory now (VmRSS), in MiB; undefined once it is gone. */
export function residentMemoryMiB(pid: number): number | undefined {
  return memoryMiB(pid, "VmRSS");
}

function memoryMiB(pid: number, field: "VmHWM" | "VmRSS"): number | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kib = Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1]);
    return Number.isFinite(kib) ? kib / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Samples the connections the functions hold open (application_name tripwire-functions) every 50 ms
 * until stopped; returns the most seen at once.
 */
export function sampleConnections(databaseUrl: string): { stop(): Promise<number> } {
  const sql = postgres(databaseUrl, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: "bench-monitor" },
  });
  let most = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const [{ open }] = await sql<{ open: number }[]>`
        select count(*)::int as open from pg_stat_activity where application_name = 'tripwire-functions'`;
      most = Math.max(most, open);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await sql.end();
      return most;
    },
  };
}

/** A Markdown table of named figures; a row with a `baseline` shows its ratios against that row. */

function processCpuSeconds(pid: number, withReapedChildren = false): number {
  try {
    // Fields after the command's closing parenthesis: utime, stime, cutime, cstime are the 12th to 15th.
    const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(")").pop()!.trim().split(" ");
    const own = Number(fields[11]) + Number(fields[12]);
    return (withReapedChildren ? own + Number(fields[13]) + Number(fields[14]) : own) / 100; // USER_HZ is 100
  } catch {
    return 0;
  }
}

/** The process ids whose /proc `stat` names `parent` as their parent. */
function childrenOf(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const fields = Deno.readTextFileSync(`/proc/${entry.name}/stat`).split(")").pop()!.trim().split(" ");
      if (Number(fields[1]) === parent) pids.push(Number(entry.name));
    } catch {
      // ended meanwhile
    }
  }
  return pids;
}

/**
 * The CPU one Postgres server has used so far: its postmaster, every live backend and helper it started, and
 * those that ended (the postmaster's reaped children). Only the server under test, however many others run.
 */
function postgresServerCpuSeconds(postmaster: number): number {
  return processCpuSeconds(postmaster, true) +
    childrenOf(postmaster).reduce((sum, pid) => sum + processCpuSeconds(pid), 0);
}

/**
 * What the deploy bundles get in a bench, as Supabase would set it for a project whose sign-in is the local
 * stand-in: the database (or pooler) URL, the local keys, a pool of `pool`, and no rate limit on heartbeats.
 */

export async function postmasterOf(databaseUrl: string): Promise<number> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const [{ pid }] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
    return Number(Deno.readTextFileSync(`/proc/${pid}/stat`).split(")").pop()!.trim().split(" ")[1]);
  } finally {
    await sql.end();
  }
}

/** The process ids running a program (its /proc `comm`), e.g. every `pgbouncer`. */
function pidsOf(program: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${entry.name}/comm`).trim() === program) pids.push(Number(entry.name));
    } catch {
      // ended meanwhile
    }
  }
  return pids;
}

/** Where the machine's CPU went: named groups of processes, and the whole machine (busy, all cores). */
export interface CpuShares {
  seconds: Record<string, number>;
  machineBusySeconds: number;
}

function machineBusySeconds(): number {
  const [, ...ticks] = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).map(Number);
  const idle = ticks[3] + ticks[4]; // idle + iowait
  return (ticks.reduce((sum, tick) => sum + tick, 0) - idle) / 100;
}

/**
 * A group of processes whose CPU is counted: pids, a program name (every process running it), or one
 * Postgres server by its postmaster (`postmasterOf`), with the backends that end meanwhile.
 */
export type CpuGroup = number[] | string | { postmaster: number };

/** Starts counting the CPU used by each group; `stop()` answers what each used meanwhile. */
function countCpu(groups: Record<string, CpuGroup>): { stop(): CpuShares } {
  const sample = () =>
    Object.fromEntries(
      Object.entries(groups).map(([name, group]) => {
        if (typeof group === "object" && !Array.isArray(group)) {
          return [name, new Map([[group.postmaster, postgresServerCpuSeconds(group.postmaster)]])];
        }
        const pids = typeof group === "string" ? pidsOf(group) : group;
        return [name, new Map(pids.map((pid) => [pid, processCpuSeconds(pid)]))];
      }),
    );
  const before = sample();
  const busyBefore = machineBusySeconds();
  return {
    stop() {
      const after = sample();
      const seconds = Object.fromEntries(
        Object.entries(after).map(([name, pids]) => [
          name,
          [...pids].reduce((sum, [pid, cpu]) => sum + cpu - (before[name].get(pid) ?? 0), 0),
        ]),
      );
      return { seconds, machineBusySeconds: machineBusySeconds() - busyBefore };
    },
  };
}

/**
 * CPU counted round by round and summed per side: `start(side, groups)` before a round, `stop()` after it.
 * `totals[side]` holds each group's CPU seconds, and `machine`: the whole machine's busy seconds.
 */
export function cpuTally() {
  const totals: Record<string, Record<string, number>> = {};
  let current: { side: string; counter: { stop(): CpuShares } } | undefined;
  return {
    totals,
    start(side: string, groups: Record<string, CpuGroup>) {
      current = { side, counter: countCpu(groups) };
    },
    stop() {
      const { side, counter } = current!;
      const used = counter.stop();
      const sum = totals[side] ??= {};
      for (const [group, seconds] of Object.entries(used.seconds)) sum[group] = (sum[group] ?? 0) + seconds;
      sum.machine = (sum.machine ?? 0) + used.machineBusySeconds;
    },
  };
}

/**
 * `npm run bench -- webhooks`: N events (10,000; 300 with --quick) drained to three healthy CRMs, first alone
 * (the baseline), then beside one CRM that answers 200 after 4.5 s and one that never answers within the 5 s an
 * attempt waits. Each drain starts with one scheduler call of `POST /webhooks/deliver`; the runs call the next
 * one themselves while more is due. Figures per healthy CRM: the lag of each event (from the first run's start
 * to its arrival), and deliveries a second. The ratio says what the bad endpoints cost the good ones.
 */
import postgres from "postgres";
import { Webhook } from "standardwebhooks";
import { localSecretKey, signLocalTokenAt } from "../lib/local_stack.ts";
import {
  type BenchOptions,
  type Figures,
  type Row,
  type ScenarioReport,
  startBenchStack,
  table,
} from "./lib.ts";
import { machine } from "./host.ts";

const saule = { id: "a0000000-0000-4000-8000-000000000001", email: "saule.admin@tripwire.local" };

/** A CRM on this machine: verifies each event, notes when it came, answers after `delayMs`. */
function startCrm(delayMs: number) {
  const arrivals = new Map<string, number>();
  const secrets: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const body = await request.text();
    const headers = Object.fromEntries(request.headers);
    if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
    try {
      new Webhook(secrets[0]).verify(body, headers);
    } catch {
      return new Response("bad signature", { status: 400 });
    }
    if (!arrivals.has(headers["webhook-id"])) arrivals.set(headers["webhook-id"], performance.now());
    return new Response("ok");
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/hooks`,
    arrivals,
    secrets,
    close: () => server.shutdown(),
  };
}
type Crm = ReturnType<typeof startCrm>;

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))];
}

export async function run(options: BenchOptions): Promise<ScenarioReport> {
  const events = options.requests ?? (options.quick ? 300 : 10_000);
  const stack = await startBenchStack({ WEBHOOKS_TO_LOOPBACK: "allowed" });
  const sql = postgres(stack.databaseUrl, { max: 1, onnotice: () => {} });
  const crms: Crm[] = [];
  try {
    const token = await signLocalTokenAt(stack.databaseUrl, saule);
    const register = async (crm: Crm) => {
      const response = await fetch(`${stack.functionsUrl}/webhooks/endpoints`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ url: crm.url, event_types: ["student.created"] }),
      });
      const body = await response.json();
      if (response.status !== 201) {
        throw new Error(`webhooks/endpoints: ${response.status} ${JSON.stringify(body)}`);
      }
      crm.secrets.push(body.secret);
      return body.id as string;
    };

    /** Writes `events` events at once, starts the runs, waits until every healthy CRM has them all. */
    const drain = async (
      healthy: Crm[],
      label: string,
    ): Promise<{ rows: Row[]; runs: number; seconds: number }> => {
      await sql`
        insert into private.webhook_events (event_type, data)
        select 'student.created', jsonb_build_object('student', jsonb_build_object('id', gen_random_uuid(),
                 'email', 'bench.' || n || '@example.kz', 'full_name', 'Bench ' || n), 'source', 'manager')
        from generate_series(1, ${events}) as n`;
      const started = performance.now();
      let runs = 0;
      const kick = async () => {
        const response = await fetch(`${stack.functionsUrl}/webhooks/deliver`, {
          method: "POST",
          headers: { authorization: `Bearer ${localSecretKey}` },
        });
        await response.body?.cancel();
        runs++;
      };
      // Not awaited: the run answers once its slowest lane ends; the healthy CRMs are watched meanwhile.
      const first = kick();
      // The runs chain themselves; a kick a minute stands in for the scheduler, as deployed.
      let lastKick = performance.now();
      while (healthy.some((crm) => crm.arrivals.size < events)) {
        if (performance.now() - started > 30 * 60_000) throw new Error(`${label}: not drained in 30 minutes`);
        if (performance.now() - lastKick > 60_000) {
          await kick();
          lastKick = performance.now();
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const seconds = Math.max(...healthy.flatMap((crm) => [...crm.arrivals.values()])) / 1000 -
        started / 1000;
      await first;
      const rows = healthy.map((crm, index): Row => {
        const lags = [...crm.arrivals.values()].map((at) => at - started).sort((a, b) => a - b);
        const figures: Figures = {
          p50: percentile(lags, 0.5),
          p95: percentile(lags, 0.95),
          p99: percentile(lags, 0.99),
          perSecond: events / (Math.max(...lags) / 1000),
          errors: 0,
        };
        crm.arrivals.clear();
        return { name: `${label}: healthy CRM ${index + 1}, lag of an event`, figures };
      });
      return { rows, runs, seconds };
    };

    const healthy = [startCrm(0), startCrm(0), startCrm(0)];
    crms.push(...healthy);
    for (const crm of healthy) await register(crm);
    console.log(`baseline: ${events} events to 3 healthy CRMs`);
    const alone = await drain(healthy, "3 healthy CRMs alone");

    const slow = startCrm(4_500);
    const dead = startCrm(6_000);
    crms.push(slow, dead);
    await register(slow);
    await register(dead);
    console.log(`${events} events to the same 3 beside a CRM answering in 4.5 s and one that times out`);
    const beside = await drain(healthy, "beside a slow and a dead CRM");
    const [bad] = await sql<{ slow_delivered: number; slow_strikes: number; dead_strikes: number }[]>`
      select (select count(*)::int from private.webhook_deliveries d join private.webhook_endpoints e
              on e.id = d.endpoint_id where e.url = ${slow.url} and d.status = 'delivered') as slow_delivered,
             (select consecutive_failures from private.webhook_endpoints where url = ${slow.url}) as slow_strikes,
             (select consecutive_failures from private.webhook_endpoints where url = ${dead.url}) as dead_strikes`;

    // Each healthy CRM beside the bad ones against the same CRM alone.
    const rows = [
      ...alone.rows,
      ...beside.rows.map((row, index) => ({ ...row, baseline: alone.rows[index].name })),
    ];
    const machineLabel = await machine(stack.databaseUrl);
    const markdown = [
      `### webhooks — ${events} events drained to 3 healthy CRMs, alone and beside a slow and a dead one`,
      "",
      `Machine: ${machineLabel}. Function server: one Deno process, pool ${stack.poolSize}. "Lag" is from the ` +
      "first run's start to the event's arrival (every event was written before it); \"per second\" is the " +
      "CRM's deliveries over its whole drain. Each endpoint has its own lane (8 attempts at once, 1 once slow " +
      "or failing); a run ends at its deadline or after 2,000 attempts and calls the next while more is due.",
      "",
      table(rows),
      "",
      `Drained alone in ${
        alone.seconds.toFixed(1)
      } s (${alone.runs} scheduler call(s) by the bench; the runs ` +
      `chained themselves), beside the bad ones in ${
        beside.seconds.toFixed(1)
      } s. Meanwhile the 4.5 s CRM got ` +
      `${bad.slow_delivered} (strikes ${bad.slow_strikes}, paused at 20) and the dead one ${bad.dead_strikes} ` +
      "strikes.",
    ].join("\n");
    return { markdown, rows, machine: machineLabel, extra: { alone, beside, bad } };
  } finally {
    await sql.end();
    await stack.stop();
    await Promise.all(crms.map((crm) => crm.close()));
  }
}

/**
 * `npm run bench -- create-user`: N student creations at concurrency C through HTTP against the
 * local stack (its Supabase Auth stand-in, log e-mail sender), with and without an Idempotency-Key, and the
 * same work straight through postgres.js (the login insert with bcrypt + the ten-row transaction)
 * as the baseline of the ratio. "raw SQL" = the login (one INSERT … SELECT with pgcrypto bcrypt)
 * and the ten-row statement in one transaction, through a pool of the same size.
 */
import postgres from "postgres";
import type { AuthUser } from "../../supabase/functions/_shared/auth.ts";
import { withTransaction } from "../../supabase/functions/_shared/db.ts";
import { writeStudent } from "../../supabase/functions/_domain/student_rows.ts";
import { generatePassword } from "../../supabase/functions/_domain/password.ts";
import { signLocalTokenAt } from "../lib/local_stack.ts";
import { insertLogin } from "../lib/local_auth/admin.ts";
import {
  type BenchOptions,
  drive,
  measure,
  roundsOf,
  row,
  type ScenarioReport,
  startBenchStack,
  table,
} from "./lib.ts";
import { machine } from "./host.ts";

const managers: AuthUser[] = [
  {
    id: "a0000000-0000-4000-8000-000000000002",
    email: "aida.manager@tripwire.local",
    fullName: "Aida Manager",
    role: "manager",
  },
  {
    id: "a0000000-0000-4000-8000-000000000003",
    email: "daniyar.manager@tripwire.local",
    fullName: "Daniyar Manager",
    role: "manager",
  },
  {
    id: "a0000000-0000-4000-8000-000000000001",
    email: "saule.admin@tripwire.local",
    fullName: "Saule Admin",
    role: "admin",
  },
];

export async function run(options: BenchOptions): Promise<ScenarioReport> {
  const requests = options.requests ?? (options.quick ? 100 : 1000);
  const concurrency = options.concurrency ?? 16;
  const stack = await startBenchStack();
  const runId = Date.now().toString(36);
  try {
    const tokens = await Promise.all(managers.map((manager) => signLocalTokenAt(stack.databaseUrl, manager)));
    const create = (label: string, withKey: boolean) => async (index: number) => {
      const response = await fetch(`${stack.functionsUrl}/create-tripwire-user`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${tokens[index % tokens.length]}`,
          "content-type": "application/json",
          ...(withKey ? { "idempotency-key": `${runId}-${label}-${index}` } : {}),
        },
        body: JSON.stringify({
          email: `bench.${runId}.${label}.${index}@example.kz`,
          full_name: `Bench Student ${index}`,
          payment_amount: 490 + (index % 100),
        }),
      });
      const text = await response.text();
      if (response.status !== 201) throw new Error(`${response.status} ${text.slice(0, 200)}`);
    };

    console.log(`warm-up: ${Math.min(100, requests)} creations`);
    await drive(Math.min(100, requests), concurrency, create("warmup", false));

    const rounds = roundsOf(options);
    // One at a time: the latency a manager sees when nobody else is creating.
    const alone = Math.max(50, Math.floor(requests / 5));
    console.log(`HTTP: ${alone} creations one at a time, ${rounds} round(s)`);
    const single = await measure(rounds, (r) => drive(alone, 1, create(`single${r}`, false)));

    console.log(`HTTP: ${requests} creations at concurrency ${concurrency}`);
    const http = await measure(rounds, (r) => drive(requests, concurrency, create(`http${r}`, false)));
    console.log(`HTTP with Idempotency-Key: ${requests} creations at concurrency ${concurrency}`);
    const keyed = await measure(rounds, (r) => drive(requests, concurrency, create(`keyed${r}`, true)));

    // The baseline: the same SQL with the same pool size, without HTTP, JWT, validation, idempotency
    // or the e-mail step.
    const sql = postgres(stack.databaseUrl, { max: stack.poolSize, onnotice: () => {} });
    const createRaw = (label: string) => async (index: number) => {
      const id = crypto.randomUUID();
      const email = `bench.${runId}.${label}.${index}@example.kz`;
      await insertLogin(sql, {
        id,
        email,
        password: generatePassword(),
        emailConfirmed: true,
        bannedSeconds: null,
        appMetadata: {},
        userMetadata: {},
      });
      await withTransaction((tx) =>
        writeStudent(tx, managers[index % managers.length], {
          id,
          email,
          full_name: `Bench Student ${index}`,
          phone: null,
          payment_amount: "490.00",
          send_welcome_email: true,
          sealedPassword: null,
        }), sql);
    };
    console.log(`raw SQL: ${alone} creations one at a time`);
    const rawSingle = await measure(rounds, (r) => drive(alone, 1, createRaw(`raw-single${r}`)));
    console.log(`raw SQL: ${requests} creations at concurrency ${concurrency}`);
    const raw = await measure(rounds, (r) => drive(requests, concurrency, createRaw(`raw${r}`)));
    await sql.end();

    const rows = [
      row("raw SQL, one at a time", rawSingle),
      row("POST /create-tripwire-user, one at a time", single, "raw SQL, one at a time"),
      row(`raw SQL, concurrency ${concurrency}`, raw),
      row(
        `POST /create-tripwire-user, concurrency ${concurrency}`,
        http,
        `raw SQL, concurrency ${concurrency}`,
      ),
      row(`… + Idempotency-Key, concurrency ${concurrency}`, keyed, `raw SQL, concurrency ${concurrency}`),
    ];
    const machineLabel = await machine(stack.databaseUrl);
    const markdown = [
      `### create-user — ${requests} creations at concurrency ${concurrency}`,
      "",
      `Machine: ${machineLabel}. Function server: one Deno process, pool ${stack.poolSize}.`,
      "",
      table(rows),
    ].join("\n");
    return { markdown, rows, machine: machineLabel };
  } finally {
    await stack.stop();
  }
}

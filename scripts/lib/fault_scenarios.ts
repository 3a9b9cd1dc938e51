/**
 * Faults and attacks against the local stack as `npm start` runs it (its own embedded Postgres in a
 * temporary folder, real processes, real HTTP), each measured the same way: requests in flight, 2xx
 * acknowledged, acknowledged work lost, 5xx other than 503, time to recover. `tests/faults_test.ts`
 * asserts on them; `npm run reliability` writes them into docs/reliability.md.
 */
import postgres from "postgres";
import { cloudPaymentsRequest, standardRequest } from "./checkout.ts";
import { freePort, type StackProcess, startStackProcess } from "./processes.ts";
import { prepareDatabase, startEmbeddedPostgres } from "./database.ts";
import { startDeployedStack } from "./deployed.ts";
import { localJwtSecret, localSecretKey, signLocalToken } from "./local_stack.ts";
import { findPgBouncer, startPgBouncer } from "./pgbouncer.ts";
import { type ResendServer, startResendServer } from "./resend_server.ts";

const aida = { id: "a0000000-0000-4000-8000-000000000002", email: "aida.manager@tripwire.local" };
const saule = { id: "a0000000-0000-4000-8000-000000000001", email: "saule.admin@tripwire.local" };
/** The providers' signing secrets the fault stacks are given: paid orders arrive under load too. */
const paymentSecrets = {
  PAYMENTS_STANDARD_SECRET: `whsec_${btoa("tripwire-fault-checkout-secret!!")}`,
  CLOUDPAYMENTS_API_SECRET: "tripwire-fault-cloudpayments-secret",
};
const requestTimeoutMs = 20_000;
/** The functions' request deadline (REQUEST_DEADLINE_MS, 10 s by default) and a second for the answer to travel. */
const deadlineGraceMs = 11_000;

export interface Outcome {
  kind: "create" | "heartbeat" | "refund" | "complete" | "order";
  /** HTTP status, 0 for a connection error, -1 for a request that outlived the client's timeout. */
  status: number;
  retryAfter: string | null;
  code?: string;
  startedAt: number;
  endedAt: number;
  email?: string;
  key?: string;
  userId?: string;
  /** A paid order's provider and id (kind "order"). */
  order?: { provider: "standard" | "cloudpayments"; id: string };
}

export interface FaultReport {
  fault: string;
  requests: number;
  /** Requests still unanswered when the fault struck. */
  inFlight: number;
  acknowledged: number;
  /** Acknowledged work not found afterwards (heartbeats: within the asynchronous-commit window). */
  lost: number;
  lostHeartbeats: number;
  other5xx: number;
  timedOut: number;
  /** Requests answered (or not) later than the request deadline (10 s) and a second's grace. */
  pastDeadline: number;
  /** The slowest answer (ms). */
  slowestMs: number;
  /** From the fault to the first 200 (ms); null when it never came back. */
  recoveryMs: number | null;
  /** Anything that must be zero: half-made students, logins without a student, duplicate keyed sales… */
  violations: string[];
  notes: string[];
}

/** What the load and the audit need of a stack: its URL, its database (direct) and its e-mail provider. */
export type LoadTarget = Pick<FaultStack, "url" | "databaseUrl" | "resend">;

/** A stack on its own embedded Postgres (what `npm start` does with nothing configured). */
export interface FaultStack {
  url: string;
  databaseUrl: string;
  dataDir: string;
  process: StackProcess;
  env: Record<string, string>;
  /** Where the stack's e-mails go: a server that answers as Resend does, idempotency keys included. */
  resend: ResendServer;
  /** The postmaster's pid, from its postmaster.pid. */
  postgresPid(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts a stack on its own Postgres in `dataDir` (a new temporary folder when not given), sending its
 * e-mails to `resend` (a new stand-in when not given, closed with the stack).
 */
export async function startFaultStack(dataDir?: string, given?: ResendServer): Promise<FaultStack> {
  const folder = dataDir ?? await Deno.makeTempDir({ prefix: "tripwire-faults-" });
  await Deno.chmod(folder, 0o755);
  const databasePort = freePort();
  const port = freePort();
  const resend = given ?? startResendServer();
  const env = {
    RESEND_API_KEY: resend.apiKey,
    RESEND_API_URL: resend.url,
    EMAIL_FROM: "Tripwire <hello@example.kz>",
    ...paymentSecrets,
    // Its own embedded Postgres, whatever the calling process has (the tests set DATABASE_URL for theirs).
    DATABASE_URL: "",
    LOCAL_DB_DIR: `${folder}/pg`,
    LOCAL_DB_PORT: String(databasePort),
    FUNCTIONS_PORT: String(port),
    SCHEDULER_INTERVAL_MS: "0",
  };
  const process = await startStackProcess(env);
  const databaseUrl = `postgresql://postgres:postgres@127.0.0.1:${databasePort}/postgres`;
  // The tests' load creates students faster than the academy's per-minute limit allows one manager.
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  await sql`update academy.settings set student_creations_per_minute = 1000000`.finally(() => sql.end());
  return {
    url: `http://127.0.0.1:${port}`,
    databaseUrl,
    dataDir: folder,
    process,
    env,
    resend,
    async postgresPid() {
      const text = await Deno.readTextFile(`${folder}/pg/postmaster.pid`);
      return Number(text.split("\n")[0]);
    },
    async stop() {
      await process.stop().catch(() => {});
      if (!given) await resend.close();
      if (!dataDir) await Deno.remove(folder, { recursive: true }).catch(() => {});
    },
  };
}

async function request(
  url: string,
  init: RequestInit,
  outcome: Omit<Outcome, "status" | "retryAfter" | "startedAt" | "endedAt">,
): Promise<Outcome & { body?: Record<string, unknown> }> {
  const startedAt = performance.now();
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(requestTimeoutMs) });
    const body = await response.json().catch(() => undefined);
    return {
      ...outcome,
      status: response.status,
      retryAfter: response.headers.get("retry-after"),
      code: body?.error?.code,
      startedAt,
      endedAt: performance.now(),
      body,
    };
  } catch (error) {
    const timedOut = error instanceof DOMException && error.name === "TimeoutError";
    return { ...outcome, status: timedOut ? -1 : 0, retryAfter: null, startedAt, endedAt: performance.now() };
  }
}

export interface Load {
  outcomes: Outcome[];
  /** Heartbeats acknowledged per student, with when each was answered. */
  heartbeatAcks: Map<string, number[]>;
  stop(): Promise<void>;
}

/** A paid order as its provider sends it (again, when `order` is given): signed, at the offer's price. */
async function sendOrder(
  stack: LoadTarget,
  order: NonNullable<Outcome["order"]>,
  email: string,
): Promise<Outcome> {
  const init = order.provider === "standard"
    ? standardRequest(paymentSecrets.PAYMENTS_STANDARD_SECRET, {
      type: "order.paid",
      timestamp: new Date().toISOString(),
      data: {
        order_id: order.id,
        amount: "490.00",
        currency: "KZT",
        customer: { email, full_name: "Paid Student" },
        send_welcome_email: false,
      },
    })
    : await cloudPaymentsRequest(paymentSecrets.CLOUDPAYMENTS_API_SECRET, {
      TransactionId: String(Math.floor(Math.random() * 1e9)),
      Amount: "490.00",
      Currency: "KZT",
      InvoiceId: order.id,
      Email: email,
      Data: JSON.stringify({ full_name: "Paid Student", send_welcome_email: false }),
    });
  const path = order.provider === "standard" ? "standard" : "cloudpayments/pay";
  return await request(`${stack.url}/functions/v1/payments/webhook/${path}`, init, {
    kind: "order",
    email,
    order,
  });
}

/**
 * Creations (half with an Idempotency-Key), paid orders from both providers, heartbeats from `students` at
 * about one a second each, and refunds of students the load itself created, from several clients at once.
 */
export function startLoad(
  stack: LoadTarget,
  tokens: {
    manager: string;
    students: { id: string; token: string }[];
    finishers?: { id: string; token: string }[];
  },
  workers: { creators: number; payers?: number; heartbeaters: number; refunders: number } = {
    creators: 6,
    payers: 2,
    heartbeaters: 6,
    refunders: 2,
  },
): Load {
  const outcomes: Outcome[] = [];
  const heartbeatAcks = new Map<string, number[]>();
  const created: string[] = [];
  let running = true;
  const manager = { authorization: `Bearer ${tokens.manager}`, "content-type": "application/json" };
  let sequence = 0;

  const creator = async (worker: number) => {
    while (running) {
      const n = sequence++;
      const email = `load.${worker}.${n}.${crypto.randomUUID().slice(0, 6)}@example.kz`;
      const key = n % 2 === 0 ? `load-${crypto.randomUUID()}` : undefined;
      const outcome = await request(`${stack.url}/functions/v1/create-tripwire-user`, {
        method: "POST",
        headers: { ...manager, ...(key ? { "idempotency-key": key } : {}) },
        body: JSON.stringify({
          email,
          full_name: "Load Student",
          payment_amount: 490,
        }),
      }, { kind: "create", email, key });
      if (outcome.status === 201) {
        outcome.userId = String(outcome.body?.id);
        created.push(outcome.userId);
      }
      delete outcome.body;
      outcomes.push(outcome);
      // As a real client would: no answer or 503, so wait a little before the next sale.
      if (outcome.status <= 0 || outcome.status === 503) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };
  const payer = async (worker: number) => {
    while (running) {
      const n = sequence++;
      const order = {
        provider: n % 2 === 0 ? "standard" as const : "cloudpayments" as const,
        id: `O-${n}-${worker}`,
      };
      const outcome = await sendOrder(
        stack,
        order,
        `paid.${worker}.${n}.${crypto.randomUUID().slice(0, 6)}@example.kz`,
      );
      delete (outcome as { body?: unknown }).body;
      outcomes.push(outcome);
      if (outcome.status <= 0 || outcome.status >= 500) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };
  const heartbeater = async (worker: number) => {
    const mine = tokens.students.filter((_, index) => index % workers.heartbeaters === worker);
    let position = 0;
    while (running) {
      const roundStarted = performance.now();
      for (const student of mine) {
        if (!running) break;
        const outcome = await request(`${stack.url}/functions/v1/video-tracking`, {
          method: "POST",
          headers: { authorization: `Bearer ${student.token}`, "content-type": "application/json" },
          body: JSON.stringify({ lesson_id: 67, segments: [], position }),
        }, { kind: "heartbeat", userId: student.id });
        delete (outcome as { body?: unknown }).body;
        outcomes.push(outcome);
        if (outcome.status === 200) {
          const acks = heartbeatAcks.get(student.id) ?? [];
          acks.push(outcome.endedAt);
          heartbeatAcks.set(student.id, acks);
        }
      }
      position = (position + 1) % 500;
      // One heartbeat a second per student, as a player sends them at most.
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, 1000 - (performance.now() - roundStarted)))
      );
    }
  };
  const refunder = async () => {
    while (running) {
      const userId = created.shift();
      if (!userId) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      const outcome = await request(`${stack.url}/functions/v1/students/${userId}/refund`, {
        method: "POST",
        headers: { ...manager, "idempotency-key": `refund-${userId}` },
        body: JSON.stringify({ amount: 1, reason: "load test" }),
      }, { kind: "refund", userId });
      delete (outcome as { body?: unknown }).body;
      outcomes.push(outcome);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  // Students whose first lesson is watched complete it, one after another, retrying until answered.
  const finisher = async () => {
    for (const student of tokens.finishers ?? []) {
      for (let attempt = 0; running && attempt < 100; attempt++) {
        const outcome = await request(`${stack.url}/functions/v1/complete-lesson`, {
          method: "POST",
          headers: { authorization: `Bearer ${student.token}`, "content-type": "application/json" },
          body: JSON.stringify({ lesson_id: 67 }),
        }, { kind: "complete", userId: student.id });
        delete (outcome as { body?: unknown }).body;
        outcomes.push(outcome);
        if (outcome.status === 200) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
      if (!running) return;
    }
  };
  const all = [
    finisher(),
    ...Array.from({ length: workers.creators }, (_, i) => creator(i)),
    ...Array.from({ length: workers.payers ?? 0 }, (_, i) => payer(i)),
    ...Array.from({ length: workers.heartbeaters }, (_, i) => heartbeater(i)),
    ...Array.from({ length: workers.refunders }, () => refunder()),
  ];
  return {
    outcomes,
    heartbeatAcks,
    async stop() {
      running = false;
      await Promise.all(all);
    },
  };
}

/**
 * The seeded manager's token, `count` students to heartbeat and `finishers` students whose first lesson
 * is marked watched (as the heartbeats would leave it), all made through the API.
 */
export async function prepare(stack: LoadTarget, count: number, finishers = 0) {
  const sql = postgres(stack.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    return await prepareWith(sql, stack, count, finishers);
  } finally {
    await sql.end();
  }
}

async function prepareWith(sql: postgres.Sql, stack: LoadTarget, count: number, finishers: number) {
  const manager = await signLocalToken(sql, aida);
  const students = [];
  for (let i = 0; i < count + finishers; i++) {
    const email = `viewer.${i}.${crypto.randomUUID().slice(0, 6)}@example.kz`;
    const response = await fetch(`${stack.url}/functions/v1/create-tripwire-user`, {
      method: "POST",
      headers: { authorization: `Bearer ${manager}`, "content-type": "application/json" },
      body: JSON.stringify({ email, full_name: "Viewer", payment_amount: 490, send_welcome_email: false }),
    });
    const body = await response.json();
    if (response.status !== 201) throw new Error(`prepare: ${response.status} ${JSON.stringify(body)}`);
    students.push({ id: body.id as string, token: await signLocalToken(sql, { id: body.id, email }) });
  }
  const finishing = students.splice(count);
  await sql`
    update public.video_tracking
    set watched_ranges = '{[0,600)}', watched_seconds = 600, watch_percentage = 100, qualified_at = now(),
        status = 'in_progress'
    where lesson_id = 67 and user_id = any(${finishing.map((student) => student.id)}::uuid[])`;
  return { manager, students, finishers: finishing };
}

/** Waits until the stack answers a real request with 200; the time it took (ms), or null. */
export async function untilServing(stack: LoadTarget, since: number, token: string, limitMs = 60_000) {
  while (performance.now() - since < limitMs) {
    const probe = await request(`${stack.url}/functions/v1/leaderboard/stats`, {
      headers: { authorization: `Bearer ${token}` },
    }, { kind: "heartbeat" });
    if (probe.status === 200) return performance.now() - since;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return null;
}

/**
 * Everything acknowledged is there, and nothing is half-made: each 201 has all its rows and its login,
 * each acknowledged refund its row; no student without its rows, no login without its student (after the
 * scheduler's sweep), at most one student per Idempotency-Key; heartbeats lost counted.
 */
export async function audit(stack: LoadTarget, load: Load, report: FaultReport, faultAt: number) {
  const sql = postgres(stack.databaseUrl, { max: 2, onnotice: () => {} });
  try {
    const created = load.outcomes.filter((outcome) => outcome.kind === "create" && outcome.status === 201);
    const ids = created.map((outcome) => outcome.userId!);
    const complete = await sql<{ id: string }[]>`
      select u.id from public.users u
      join auth.users a on a.id = u.id
      join public.tripwire_users t on t.user_id = u.id
      join public.tripwire_user_profile p on p.user_id = u.id
      join public.user_statistics s on s.user_id = u.id
      where u.id = any(${ids}::uuid[])
        and exists (select 1 from public.tripwire_module_unlocks m where m.user_id = u.id)
        and exists (select 1 from public.video_tracking v where v.user_id = u.id)`;
    const lostCreations = ids.length - complete.length;
    const refunds = load.outcomes.filter((outcome) => outcome.kind === "refund" && outcome.status === 200);
    const [{ refunded }] = await sql<{ refunded: number }[]>`
      select count(distinct user_id)::int as refunded from public.student_refunds
      where user_id = any(${refunds.map((outcome) => outcome.userId!)}::uuid[])`;
    const lostRefunds = refunds.length - refunded;
    const completions = load.outcomes.filter((outcome) =>
      outcome.kind === "complete" && outcome.status === 200
    );
    const [{ completed }] = await sql<{ completed: number }[]>`
      select count(*)::int as completed from public.student_progress sp
      where sp.lesson_id = 67 and sp.status = 'completed'
        and sp.user_id = any(${completions.map((outcome) => outcome.userId!)}::uuid[])
        and exists (select 1 from public.tripwire_module_unlocks u where u.user_id = sp.user_id and u.module_id = 17)
        and exists (select 1 from public.sales_activity_log a
                    where a.student_id = sp.user_id and a.event_type = 'lesson_completed')`;
    const lostCompletions = new Set(completions.map((outcome) => outcome.userId)).size - completed;
    if (lostCompletions) report.violations.push(`${lostCompletions} acknowledged completions incomplete`);
    const [{ halfCompleted }] = await sql<{ halfCompleted: number }[]>`
      select count(*)::int as "halfCompleted" from public.student_progress sp
      where sp.lesson_id = 67 and sp.status = 'completed'
        and not exists (select 1 from public.tripwire_module_unlocks u where u.user_id = sp.user_id and u.module_id = 17)`;
    if (halfCompleted) {
      report.violations.push(`${halfCompleted} completions without the next module unlocked`);
    }
    report.lost = lostCreations + lostRefunds + Math.max(0, lostCompletions);
    if (lostCreations) report.violations.push(`${lostCreations} acknowledged students incomplete or missing`);
    if (lostRefunds) report.violations.push(`${lostRefunds} acknowledged refunds missing`);

    const [half] = await sql<{ without_rows: number; without_student: number }[]>`
      select
        (select count(*)::int from public.tripwire_users t
         where not exists (select 1 from public.tripwire_user_profile p where p.user_id = t.user_id)
            or not exists (select 1 from public.users u where u.id = t.user_id)
            or not exists (select 1 from public.tripwire_module_unlocks m where m.user_id = t.user_id)) as without_rows,
        (select count(*)::int from public.users u where u.role = 'student'
         and not exists (select 1 from public.tripwire_users t where t.user_id = u.id)) as without_student`;
    if (half.without_rows) report.violations.push(`${half.without_rows} students without all their rows`);
    if (half.without_student) {
      report.violations.push(`${half.without_student} student users without a student`);
    }

    // Right after healing, before any sweep: a keyed creation that got no answer is retried with its key and
    // completes (adopting the login its interrupted attempt made), never 409 email_exists: one student per key. Its claim
    // is taken over once 30 s have passed (sooner, the retry answers 409 request_in_progress): as if they had.
    await sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`; // past the updated_at trigger
      await tx`update private.idempotency_keys set updated_at = now() - interval '1 minute' where state = 'in_progress'`;
    });
    const unanswered = load.outcomes.filter((outcome) =>
      outcome.kind === "create" && outcome.key && outcome.status !== 201 &&
      outcome.code !== "request_in_progress"
    );
    const manager = await signLocalToken(sql, aida);
    for (const outcome of unanswered) {
      const retry = await request(`${stack.url}/functions/v1/create-tripwire-user`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${manager}`,
          "content-type": "application/json",
          "idempotency-key": outcome.key!,
        },
        body: JSON.stringify({ email: outcome.email, full_name: "Load Student", payment_amount: 490 }),
      }, { kind: "create" });
      if (retry.status !== 201) {
        report.violations.push(`a keyed retry answered ${retry.status} ${retry.code}`);
      }
    }
    const emails = load.outcomes.filter((outcome) => outcome.kind === "create" && outcome.key).map((o) =>
      o.email!
    );
    const [{ duplicated }] = await sql<{ duplicated: number }[]>`
      select count(*)::int as duplicated from (
        select email from public.tripwire_users where email = any(${emails}::text[]) group by email having count(*) > 1
      ) d`;
    if (duplicated) report.violations.push(`${duplicated} keyed sales made twice`);
    report.notes.push(
      `${unanswered.length} keyed creations without an answer retried: each made exactly once`,
    );

    // A provider sends again every paid order it got no 200 for; then every order is a student (or an order
    // attached to one) or an entry in the review queue, and the books match the providers.
    const unpaid = load.outcomes.filter((outcome) => outcome.kind === "order" && outcome.status !== 200);
    for (const outcome of unpaid) {
      const again = await sendOrder(stack, outcome.order!, outcome.email!);
      if (again.status !== 200) {
        report.violations.push(`a paid order sent again answered ${again.status} ${again.code}`);
      }
    }
    const orders = load.outcomes.filter((outcome) => outcome.kind === "order");
    const [{ unrecorded }] = await sql<{ unrecorded: number }[]>`
      select count(*)::int as unrecorded
      from unnest(${orders.map((o) => o.order!.provider)}::text[], ${orders.map((o) => o.order!.id)}::text[])
        as sent(provider, order_id)
      where not exists (select 1 from private.payment_orders p
                        where p.provider = sent.provider and p.order_id = sent.order_id)
        and not exists (select 1 from private.payment_reviews r
                        where r.provider = sent.provider and r.order_id = sent.order_id and r.kind = 'order')`;
    if (unrecorded) {
      report.violations.push(`${unrecorded} paid orders neither a student nor in the review queue`);
    }
    report.lost += unrecorded;
    const books = await request(`${stack.url}/functions/v1/payments/reconciliation`, {
      headers: { authorization: `Bearer ${await signLocalToken(sql, saule)}` },
    }, { kind: "order" });
    const unexplained = Number(books.body?.unexplained ?? -1);
    if (books.status !== 200 || unexplained !== 0) {
      report.violations.push(`reconciliation: ${books.status}, ${unexplained} unexplained differences`);
    }
    report.notes.push(
      `${orders.length} paid orders sent (${unpaid.length} sent again after no 200): every one recorded, ` +
        `the reconciliation shows ${unexplained} unexplained differences`,
    );

    // The scheduler's sweep, as if the 30 s a note lives had passed (the scheduler runs every minute: 90 s after
    // the fault at the latest): then no login may be left without its student.
    await sql`update private.pending_logins set created_at = now() - interval '31 seconds'`;
    const sweep = await fetch(`${stack.url}/functions/v1/create-tripwire-user/retry-emails`, {
      method: "POST",
      headers: { authorization: `Bearer ${localSecretKey}` },
    });
    const swept = await sweep.json();
    if (swept.abandoned_logins_deleted) {
      report.notes.push(`${swept.abandoned_logins_deleted} half-made logins swept`);
    }
    const [{ orphans }] = await sql<{ orphans: number }[]>`
      select count(*)::int as orphans from auth.users a
      where a.raw_app_meta_data ->> 'role' = 'student' and not exists (select 1 from public.users u where u.id = a.id)`;
    if (orphans) report.violations.push(`${orphans} logins without a student`);

    // E-mails: every queued one sent by the scheduler, as if its time had come; then each student has had
    // exactly one welcome e-mail, although a crash between a send and its record makes the send go again
    // (with its Idempotency-Key, which the provider answers from the first send).
    for (let round = 0; round < 200; round++) {
      const due =
        await sql`update private.email_outbox set next_attempt_at = now() where status = 'queued' returning id`;
      if (due.length === 0) break;
      await (await fetch(`${stack.url}/functions/v1/create-tripwire-user/retry-emails`, {
        method: "POST",
        headers: { authorization: `Bearer ${localSecretKey}` },
      })).body?.cancel();
    }
    const students = await sql<{ email: string }[]>`
      select t.email from public.tripwire_users t where t.email like 'load.%'`;
    const received = new Map<string, number>();
    for (const sent of stack.resend.accepted) {
      for (const to of sent.body.to) received.set(to, (received.get(to) ?? 0) + 1);
    }
    const twice = students.filter((student) => (received.get(student.email) ?? 0) > 1).length;
    const never = students.filter((student) => !received.has(student.email)).length;
    if (twice) report.violations.push(`${twice} students got their welcome e-mail more than once`);
    if (never) report.violations.push(`${never} students never got their welcome e-mail`);
    report.notes.push(
      `${students.length} welcome e-mails, each delivered exactly once; ${stack.resend.replayed()} sends ` +
        "repeated after the fault were answered by the provider from their Idempotency-Key",
    );

    // Heartbeats: acknowledged minus stored; asynchronous commit may lose the last ~0.6 s before a crash.
    let lost = 0;
    let lostOutsideWindow = 0;
    for (const [userId, acks] of load.heartbeatAcks) {
      const [row] = await sql<{ heartbeat_count: number }[]>`
        select heartbeat_count from public.video_tracking where user_id = ${userId} and lesson_id = 67`;
      const missing = Math.max(0, acks.length - (row?.heartbeat_count ?? 0));
      lost += missing;
      const beforeWindow = acks.filter((at) => at < faultAt - 1000).length;
      if ((row?.heartbeat_count ?? 0) < beforeWindow) lostOutsideWindow++;
    }
    report.lostHeartbeats = lost;
    if (lostOutsideWindow) {
      report.violations.push(
        `${lostOutsideWindow} students lost heartbeats acknowledged more than 1 s before the fault`,
      );
    }
  } finally {
    await sql.end();
  }
}

/** {create: {"201": 812, "503": 4}, …}; 0 is a connection error, -1 a timeout. */
function statusesByKind(outcomes: Outcome[]): Record<string, Record<string, number>> {
  const counts: Record<string, Record<string, number>> = {};
  for (const outcome of outcomes) {
    const kind = (counts[outcome.kind] ??= {});
    const key = outcome.code ? `${outcome.status} ${outcome.code}` : String(outcome.status);
    kind[key] = (kind[key] ?? 0) + 1;
  }
  return counts;
}

export function summarize(
  fault: string,
  load: Load,
  faultAt: number,
  recoveryMs: number | null,
): FaultReport {
  const outcomes = load.outcomes;
  return {
    fault,
    requests: outcomes.length,
    inFlight: outcomes.filter((o) => o.startedAt <= faultAt && o.endedAt >= faultAt).length,
    acknowledged: outcomes.filter((o) => o.status >= 200 && o.status < 300).length,
    lost: 0,
    lostHeartbeats: 0,
    other5xx: outcomes.filter((o) => o.status >= 500 && o.status !== 503).length,
    timedOut: outcomes.filter((o) => o.status === -1).length,
    pastDeadline: outcomes.filter((o) => o.status === -1 || o.endedAt - o.startedAt > deadlineGraceMs).length,
    slowestMs: Math.round(Math.max(0, ...outcomes.map((o) => o.endedAt - o.startedAt))),
    recoveryMs,
    violations: [
      ...outcomes.filter((o) => o.status === 503 && !o.retryAfter).length
        ? ["a 503 without Retry-After"]
        : [],
    ],
    notes: [
      `${outcomes.filter((o) => o.status === 503).length} answered 503 (Retry-After), ` +
      `${outcomes.filter((o) => o.status === 0).length} connection errors`,
      `answers by kind: ${JSON.stringify(statusesByKind(outcomes))}`,
      ...outcomes.filter((o) => o.status === -1).map((o) =>
        `timed out: ${o.kind} started ${Math.round(o.startedAt - faultAt)} ms from the fault`
      ),
    ],
  };
}

/** SIGTERM to `npm start` mid-load: in-flight requests finish, Postgres stops cleanly; a restart finds it all. */
export async function stackTerminated(options: { beforeMs: number; students: number; finishers?: number }) {
  const dataDir = await Deno.makeTempDir({ prefix: "tripwire-faults-" });
  try {
    const stack = await startFaultStack(dataDir);
    const tokens = await prepare(stack, options.students, options.finishers ?? 0);
    const load = startLoad(stack, tokens);
    await new Promise((resolve) => setTimeout(resolve, options.beforeMs));
    const faultAt = performance.now();
    stack.process.child.kill("SIGTERM");
    const status = await stack.process.child.status;
    const stoppedMs = performance.now() - faultAt;
    await load.stop();
    const cleanStop = await Deno.stat(`${dataDir}/pg/postmaster.pid`).then(() => false, () => true);
    const restarted = await startFaultStack(dataDir, stack.resend);
    try {
      const recoveryMs = performance.now() - faultAt;
      const report = summarize(
        "npm start stopped (SIGTERM) under load, then started again",
        load,
        faultAt,
        recoveryMs,
      );
      report.notes.push(
        `exit code ${status.code} after ${Math.round(stoppedMs)} ms; Postgres stopped cleanly: ${cleanStop}`,
      );
      if (status.code !== 0) report.violations.push(`exit code ${status.code}`);
      if (!cleanStop) report.violations.push("Postgres was not stopped cleanly");
      // Sent before the signal: each must get its whole answer (the server lingers to take in what is on its
      // way, then waits for every answer to be copied out). Requests sent after it may be refused.
      const sentBefore = load.outcomes.filter((o) => o.startedAt <= faultAt);
      const inFlight = sentBefore.filter((o) => o.endedAt >= faultAt);
      const cut = sentBefore.filter((o) => o.status <= 0).length;
      report.notes.push(
        `${inFlight.length} requests in flight at the signal, ${cut} of those sent before it unanswered`,
      );
      if (cut) report.violations.push(`${cut} requests sent before SIGTERM got no answer`);
      await audit(restarted, load, report, faultAt);
      return report;
    } finally {
      await restarted.stop();
      await stack.resend.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

/**
 * An attacker process holding `count` connections to `port`, each having sent half a request line and
 * nothing more. The attack runs in processes of its own (10,000 connections each) because one process
 * may hold no more files than the server may. With `slow`, each connection goes on sending a header byte
 * every 2 s without ever finishing its headers, and is opened again when the server closes it (slowloris).
 */
async function holdHalfOpen(port: number, count: number, slow: false | "header" | "body" = false) {
  // A slow body: a whole request head promising 100,000 bytes of body (more than any route takes), which never
  // all come.
  const opening = slow === "body"
    ? "POST /functions/v1/create-tripwire-user HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
      "Content-Length: 100000\r\n\r\n"
    : "GET /functions/v1/leaderboard HTTP/1.1\r\nHost: x\r\n";
  const attackers: { child: Deno.ChildProcess; counts: { held: number; refused: number } }[] = [];
  for (let left = count; left > 0; left -= 10_000) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `
        const held = [];
        let refused = 0;
        const open = async () => {
          const connection = await Deno.connect({ hostname: "127.0.0.1", port: ${port} });
          await connection.write(new TextEncoder().encode(${JSON.stringify(opening)}));
          return connection;
        };
        for (let i = 0; i < ${Math.min(left, 10_000)}; i++) {
          try {
            held.push(await open());
          } catch {
            refused++;
          }
        }
        console.log(JSON.stringify({ held: held.length, refused }));
        if (${Boolean(slow)}) {
          const byte = new TextEncoder().encode("a");
          setInterval(() => {
            held.forEach((connection, i) => {
              connection.write(byte).catch(() => {
                try { connection.close(); } catch { /* closed */ }
                open().then((again) => { held[i] = again; }, () => {});
              });
            });
          }, 2000);
        }
        for await (const _ of Deno.stdin.readable) { /* held until the test closes stdin */ }
        Deno.exit(0);`,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let line = "";
    while (!line.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      line += value;
    }
    attackers.push({ child, counts: JSON.parse(line) as { held: number; refused: number } });
  }
  return {
    held: attackers.reduce((sum, attacker) => sum + attacker.counts.held, 0),
    refused: attackers.reduce((sum, attacker) => sum + attacker.counts.refused, 0),
    async release() {
      for (const { child } of attackers) {
        await child.stdin.close().catch(() => {});
        child.kill("SIGKILL");
        await child.status;
      }
    },
  };
}

/**
 * `connections` clients that send half a request line and never finish (with `slow: true` or "header", that keep
 * sending a header byte every 2 s and come back when closed; with "body", that send a whole request head
 * promising a 100,000-byte body and then a byte of it every 2 s); real requests keep being answered meanwhile.
 */
export async function halfOpenFlood(
  options: { connections: number; slow?: boolean | "header" | "body"; durationMs?: number },
) {
  const stack = await startFaultStack();
  let attack: Awaited<ReturnType<typeof holdHalfOpen>> | undefined;
  try {
    const tokens = await prepare(stack, 1);
    const slow = options.slow === true ? "header" : options.slow || false;
    attack = await holdHalfOpen(Number(new URL(stack.url).port), options.connections, slow);
    // The attack is in place: from now on real clients must still be served.
    const faultAt = performance.now();
    const load = startLoad(stack, tokens, { creators: 2, heartbeaters: 1, refunders: 0 });
    await new Promise((resolve) => setTimeout(resolve, options.durationMs ?? 2000));
    await load.stop();
    const served = load.outcomes.filter((o) => o.status >= 200 && o.status < 300).map((o) => o.endedAt);
    const recoveryMs = served.length ? Math.min(...served) - faultAt : null;
    const report = summarize(
      slow === "body"
        ? `${options.connections} slow-body connections (a whole head, then a body byte every 2 s, reopened)`
        : slow
        ? `${options.connections} slow-header connections (a byte every 2 s, never finished, reopened)`
        : `${options.connections} idle half-open connections`,
      load,
      faultAt,
      recoveryMs,
    );
    report.notes.push(`${attack.held} held open by the attacker, ${attack.refused} refused`);
    const answered = load.outcomes.filter((o) => o.status >= 200 && o.status < 300).length;
    if (answered === 0) report.violations.push("no real request was answered during the flood");
    const failed = load.outcomes.filter((o) => o.status <= 0 || o.status >= 500).length;
    if (failed) report.violations.push(`${failed} real requests failed during the flood`);
    const exited = await Promise.race([
      stack.process.child.status.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 10)),
    ]);
    if (exited) report.violations.push("the server process exited");
    await audit(stack, load, report, faultAt);
    return report;
  } finally {
    await attack?.release();
    await stack.stop();
  }
}

/**
 * The deployed shape under a fault: every function as its own bundle (with the vendored, patched postgres.js),
 * through PgBouncer in transaction mode, over an embedded Postgres that is started again when it dies (as
 * Supabase does). Logins are written locally (AUTH_ADMIN=local); everything else is Supabase's environment.
 */
async function startDeployedFaultStack() {
  const pgbouncer = findPgBouncer();
  if ("missing" in pgbouncer) throw new Error(pgbouncer.missing);
  const folder = await Deno.makeTempDir({ prefix: "tripwire-deployed-faults-" });
  await Deno.chmod(folder, 0o755);
  const database = await startEmbeddedPostgres({
    dataDir: `${folder}/pg`,
    port: freePort(),
    persistent: true,
    supervise: true,
  });
  await prepareDatabase(database.url);
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  await sql`update academy.settings set student_creations_per_minute = 1000000`.finally(() => sql.end());
  const pooler = await startPgBouncer(pgbouncer.bin, database.url);
  const resend = startResendServer();
  const functions = await startDeployedStack({
    env: {
      SUPABASE_DB_URL: pooler.url,
      SUPABASE_ANON_KEY: "sb_publishable_faults",
      SUPABASE_SECRET_KEYS: JSON.stringify({ default: localSecretKey }),
      JWT_SECRET: localJwtSecret,
      AUTH_ADMIN: "local",
      RESEND_API_KEY: resend.apiKey,
      RESEND_API_URL: resend.url,
      EMAIL_FROM: "Tripwire <hello@example.kz>",
      ...paymentSecrets,
    },
  });
  return {
    url: functions.url,
    databaseUrl: database.url,
    resend,
    crashes: functions.crashes,
    async postgresPid() {
      return Number((await Deno.readTextFile(`${folder}/pg/postmaster.pid`)).split("\n")[0]);
    },
    async stop() {
      await functions.stop();
      await pooler.stop();
      await resend.close();
      await database.stop().catch(() => {});
      await Deno.remove(folder, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Under load, Postgres is killed (SIGKILL) or its backends are terminated one after another (`terminations`:
 * 30 in 1.5 s, the storm that found the driver's faults), on the local stack (`npm start`)
 * or the deployed shape (bundles, through PgBouncer). Every request must be answered — at the
 * latest at its deadline, with 503 — and nothing acknowledged lost.
 */
export async function connectionFault(options: {
  shape: "local" | "deployed";
  fault: "sigkill" | "terminations";
  beforeMs: number;
  afterMs: number;
  students: number;
  finishers?: number;
}) {
  const stack = options.shape === "local" ? await startFaultStack() : await startDeployedFaultStack();
  try {
    const tokens = await prepare(stack, options.students, options.finishers ?? 0);
    const load = startLoad(stack, tokens);
    await new Promise((resolve) => setTimeout(resolve, options.beforeMs));
    const faultAt = performance.now();
    if (options.fault === "sigkill") {
      Deno.kill(await stack.postgresPid(), "SIGKILL");
    } else {
      const admin = postgres(stack.databaseUrl, { max: 1, onnotice: () => {} });
      try {
        for (let k = 0; k < 30; k++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          await admin`
            select pg_terminate_backend(pid) from pg_stat_activity
            where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'`;
        }
      } finally {
        await admin.end();
      }
    }
    const recoveryMs = await untilServing(stack, faultAt, tokens.manager);
    await new Promise((resolve) => setTimeout(resolve, options.afterMs));
    await load.stop();
    const shape = options.shape === "local"
      ? "npm start"
      : "deployed bundles (PgBouncer, a Postgres restarted)";
    const fault = options.fault === "sigkill"
      ? "Postgres killed (SIGKILL)"
      : "30 backends terminated in 1.5 s";
    const report = summarize(`${shape}: ${fault}`, load, faultAt, recoveryMs);
    const crashed = "crashes" in stack ? stack.crashes() : [];
    if (crashed.length) {
      report.violations.push(
        `${crashed.length} function processes crashed (${crashed.map((crash) => crash.name).join(", ")}): ` +
          crashed[0].output.split("\n").filter((line) => /rror/.test(line)).slice(-2).join(" "),
      );
    }
    // npm start says what its Postgres supervisor did; the deployed processes' output is in `crashed`.
    const said = "process" in stack ? stack.process : undefined;
    if (recoveryMs === null) {
      const last = said?.output().split("\n").filter((line) => !line.startsWith("{")).slice(-30).join("\n");
      report.violations.push(`never served again${last ? `: ${last}` : ""}`);
      return report;
    }
    if (said) {
      const notices = said.notices().split("\n").filter((line) => line.startsWith("[postgres]"));
      report.notes.push(`what npm start said: ${notices.map((line) => `"${line}"`).join(", ")}`);
    }
    await audit(stack, load, report, faultAt);
    return report;
  } finally {
    await stack.stop();
  }
}

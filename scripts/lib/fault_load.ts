/**
 * The load every fault scenario runs (fault_scenarios.ts): sales, heartbeats, completions, refunds and paid orders
 * sent at once through real HTTP, each outcome kept, and what a report of them says.
 */
import postgres from "postgres";
import { cloudPaymentsRequest, standardRequest } from "./checkout.ts";

import { signLocalToken } from "./local_stack.ts";

import { type ResendServer } from "./resend_server.ts";

export const aida = { id: "a0000000-0000-4000-8000-000000000002", email: "aida.manager@tripwire.local" };
export const saule = { id: "a0000000-0000-4000-8000-000000000001", email: "saule.admin@tripwire.local" };
/** The providers' signing secrets the fault stacks are given: paid orders arrive under load too. */
export const paymentSecrets = {
  PAYMENTS_STANDARD_SECRET: `whsec_${btoa("tripwire-fault-checkout-secret!!")}`,
  CLOUDPAYMENTS_API_SECRET: "tripwire-fault-cloudpayments-secret",
};
export const requestTimeoutMs = 20_000;
/** The functions' request deadline (REQUEST_DEADLINE_MS, 10 s by default) and a second for the answer to travel. */
export const deadlineGraceMs = 11_000;

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
export interface LoadTarget {
  url: string;
  databaseUrl: string;
  /** Where the stack's e-mails go: a server that answers as Resend does, idempotency keys included. */
  resend: ResendServer;
}

export async function request(
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
export async function sendOrder(
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

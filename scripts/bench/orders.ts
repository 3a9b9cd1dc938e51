/**
 * `npm run bench -- orders`: N signed paid orders through `payments` — Standard Webhooks `order.paid` and
 * CloudPayments Pay, each verified, checked against the offer's price, attributed by a payment link and made a
 * student — against the manager's own creation path (POST /create-tripwire-user with an Idempotency-Key, as the
 * order's creation runs it) in the same run, at the same concurrency: the ratio is what the door costs.
 */
import { cloudPaymentsRequest, standardRequest } from "../lib/checkout.ts";
import { signLocalTokenAt } from "../lib/local_stack.ts";
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

const aida = { id: "a0000000-0000-4000-8000-000000000002", email: "aida.manager@tripwire.local" };
const standardSecret = `whsec_${btoa("tripwire-bench-checkout-secret!!")}`;
const cloudPaymentsSecret = "tripwire-bench-cloudpayments-secret";

export async function run(options: BenchOptions): Promise<ScenarioReport> {
  const requests = options.requests ?? (options.quick ? 100 : 1000);
  const concurrency = options.concurrency ?? 16;
  const stack = await startBenchStack({
    PAYMENTS_STANDARD_SECRET: standardSecret,
    CLOUDPAYMENTS_API_SECRET: cloudPaymentsSecret,
  });
  const runId = Date.now().toString(36);
  try {
    const token = await signLocalTokenAt(stack.databaseUrl, aida);
    const link = await fetch(`${stack.functionsUrl}/payments/links`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: "{}",
    });
    const { reference } = await link.json();
    if (!reference) throw new Error(`payments/links answered ${link.status}`);
    const expect200 = async (response: Response, what: string) => {
      const text = await response.text();
      if (response.status !== 200 && response.status !== 201) {
        throw new Error(`${what}: ${response.status} ${text.slice(0, 200)}`);
      }
      if (response.status === 200 && !/"created"|"code":0/.test(text)) throw new Error(`${what}: ${text}`);
    };

    const manager = (label: string) => async (index: number) => {
      const response = await fetch(`${stack.functionsUrl}/create-tripwire-user`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          "idempotency-key": `${runId}-${label}-${index}`,
        },
        body: JSON.stringify({
          email: `bench.${runId}.${label}.${index}@example.kz`,
          full_name: `Bench Student ${index}`,
          payment_amount: "490.00",
          send_welcome_email: false,
        }),
      });
      await expect200(response, "create-tripwire-user");
    };
    const standard = (label: string) => async (index: number) => {
      const response = await fetch(
        `${stack.functionsUrl}/payments/webhook/standard`,
        standardRequest(standardSecret, {
          type: "order.paid",
          timestamp: new Date().toISOString(),
          data: {
            order_id: `${runId}-${label}-${index}`,
            amount: "490.00",
            currency: "KZT",
            customer: {
              email: `bench.${runId}.${label}.${index}@example.kz`,
              full_name: `Bench Buyer ${index}`,
            },
            metadata: { ref: reference },
            send_welcome_email: false,
          },
        }),
      );
      await expect200(response, "payments/webhook/standard");
    };
    const cloudPayments = (label: string) => async (index: number) => {
      const response = await fetch(
        `${stack.functionsUrl}/payments/webhook/cloudpayments/pay`,
        await cloudPaymentsRequest(cloudPaymentsSecret, {
          TransactionId: String(index),
          Amount: "490.00",
          Currency: "KZT",
          InvoiceId: `${runId}-${label}-${index}`,
          Email: `bench.${runId}.${label}.${index}@example.kz`,
          Data: JSON.stringify({
            full_name: `Bench Buyer ${index}`,
            ref: reference,
            send_welcome_email: false,
          }),
        }),
      );
      await expect200(response, "payments/webhook/cloudpayments/pay");
    };

    const warm = Math.min(50, requests);
    console.log(`warm-up: ${warm} of each`);
    await drive(warm, concurrency, manager("warm-m"));
    await drive(warm, concurrency, standard("warm-s"));
    await drive(warm, concurrency, cloudPayments("warm-c"));

    const rounds = roundsOf(options);
    console.log(`manager's creations: ${requests} at concurrency ${concurrency}, ${rounds} round(s)`);
    const baseline = await measure(rounds, (r) => drive(requests, concurrency, manager(`m${r}`)));
    console.log(`Standard Webhooks orders: ${requests} at concurrency ${concurrency}`);
    const viaStandard = await measure(rounds, (r) => drive(requests, concurrency, standard(`s${r}`)));
    console.log(`CloudPayments Pay: ${requests} at concurrency ${concurrency}`);
    const viaCloudPayments = await measure(
      rounds,
      (r) => drive(requests, concurrency, cloudPayments(`c${r}`)),
    );

    const base = `POST /create-tripwire-user (keyed), concurrency ${concurrency}`;
    const rows = [
      row(base, baseline),
      row(`POST /payments/webhook/standard (order.paid), concurrency ${concurrency}`, viaStandard, base),
      row(`POST /payments/webhook/cloudpayments/pay, concurrency ${concurrency}`, viaCloudPayments, base),
    ];
    const machineLabel = await machine(stack.databaseUrl);
    const markdown = [
      `### orders — ${requests} signed paid orders per provider at concurrency ${concurrency}`,
      "",
      `Machine: ${machineLabel}. Function server: one Deno process, pool ${stack.poolSize}. Each order is ` +
      "verified, checked against the offer's price, credited by a payment link reference and made a student.",
      "",
      table(rows),
    ].join("\n");
    return { markdown, rows, machine: machineLabel };
  } finally {
    await stack.stop();
  }
}

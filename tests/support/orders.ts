/** Paid orders as the providers send them, for the payments stories (payments, CloudPayments, review queue). */
import { cloudPaymentsRequest, standardRequest } from "../../scripts/lib/checkout.ts";
import { expectJson } from "./responses.ts";
import { appDatabase, callAs, callFunction, cloudPaymentsSecret, standardWebhooksSecret } from "./server.ts";

export const sql = appDatabase.sql;
export const unique = () => crypto.randomUUID().slice(0, 8);

/** A checkout's Standard Webhooks message, signed (with another secret when given). */
export function signedStandard(
  message: unknown,
  options: { sentAt?: Date; secret?: string; id?: string } = {},
): RequestInit {
  return standardRequest(options.secret ?? standardWebhooksSecret, message, options);
}

/** Standard Webhooks' documented shape for a paid order: `{type, timestamp, data}`, at the offer's price. */
export function orderPaid(orderId: string, email: string, extra: Record<string, unknown> = {}) {
  return {
    type: "order.paid",
    timestamp: new Date().toISOString(),
    data: {
      order_id: orderId,
      amount: "490.00",
      currency: "KZT",
      customer: { email, full_name: "Bolat Nurlanov", phone: "+77011234567" },
      metadata: {},
      send_welcome_email: false,
      ...extra,
    },
  };
}

/** A manager's payment link: the signed reference the checkout hands back with the order. */
export async function paymentLink(managerId: string, body: Record<string, unknown> = {}): Promise<string> {
  const link = await expectJson(await callAs(managerId, "payments/links", body));
  return link.reference;
}

/** The review queue's entry for an order, if any. */
export async function reviewOf(provider: string, orderId: string) {
  const [review] = await sql<{ id: string; reason: string; amount: string; currency: string | null }[]>`
    select id, reason, amount::text, currency from private.payment_reviews
    where provider = ${provider} and order_id = ${orderId} and kind = 'order'`;
  return review;
}

export const postStandard = (init: RequestInit) => callFunction("payments/webhook/standard", init);

/** A CloudPayments notification as it sends one: a form body, signed in Content-HMAC. */
export async function cloudPayments(
  notification: string,
  fields: Record<string, string>,
  options: { secret?: string; tamper?: boolean } = {},
): Promise<Response> {
  const request = await cloudPaymentsRequest(options.secret ?? cloudPaymentsSecret, fields);
  if (options.tamper) request.body = String(request.body).replace("490.00", "4.90");
  return await callFunction(`payments/webhook/cloudpayments/${notification}`, request);
}

/** The sample Pay notification of CloudPayments' documentation, for our order and buyer. */
export function cloudPaymentsPay(
  invoiceId: string,
  email: string,
  amount = "490.00",
): Record<string, string> {
  return {
    TransactionId: String(1_200_000_000 + Math.floor(Math.random() * 1e8)),
    Amount: amount,
    Currency: "KZT",
    PaymentAmount: amount,
    PaymentCurrency: "KZT",
    OperationType: "Payment",
    InvoiceId: invoiceId,
    AccountId: email,
    SubscriptionId: "",
    Name: "BOLAT NURLANOV",
    Email: email,
    DateTime: "2026-12-06 10:00:00",
    IpAddress: "46.251.83.16",
    IpCountry: "KZ",
    IpCity: "Алматы",
    CardFirstSix: "424242",
    CardLastFour: "4242",
    CardType: "Visa",
    CardExpDate: "12/28",
    TestMode: "1",
    Status: "Completed",
    GatewayName: "Test",
    Data: JSON.stringify({ full_name: "Болат Нурланов", phone: "+77011234567" }),
    TotalFee: "0",
    PaymentMethod: "",
  };
}

/** The students with this e-mail (one, or none). */
export async function studentsWithEmail(email: string) {
  return await sql<{ user_id: string; granted_by: string; payment_amount: string; status: string }[]>`
    select user_id, granted_by, payment_amount, status from public.tripwire_users where email = ${email}`;
}

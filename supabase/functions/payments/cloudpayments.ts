/**
 * CloudPayments (developers.cloudpayments.ru, "Уведомления"): each notification is a POST to the URL set for its
 * kind in the merchant's dashboard — here `/payments/webhook/cloudpayments/{check|pay|fail|confirm|refund|cancel}`
 * — as `application/x-www-form-urlencoded` (or JSON, if so configured), signed in the `Content-HMAC` header:
 * base64 of HMAC-SHA256 over the raw body with the site's API secret (CLOUDPAYMENTS_API_SECRET). The answer is
 * HTTP 200 with `{"code": 0}` when accepted; for Check a non-zero code declines the payment: 10 a bad order
 * number, 11 a bad account (the e-mail), 12 a bad amount, 13 a payment that cannot be accepted. A notification
 * that gets no 200 is sent again, so a fault here answers 5xx and the provider retries; a request whose signature
 * is wrong did not come from CloudPayments and gets 401.
 */
import { z } from "zod";
import { config } from "../_shared/config.ts";
import { HttpError } from "../_shared/errors.ts";
import { log } from "../_shared/log.ts";
import { type OrderNotice } from "./order_assessment.ts";
import { checkOrder, receivePaidOrder, refundFromOrder } from "./orders.ts";

export const cloudPaymentsNotifications = ["check", "pay", "fail", "confirm", "refund", "cancel"] as const;
export type CloudPaymentsNotification = (typeof cloudPaymentsNotifications)[number];

/** CloudPayments' answer codes (the documented ones this route gives). */
export const CloudPaymentsAnswer = z.object({
  code: z.union([z.literal(0), z.literal(10), z.literal(11), z.literal(12), z.literal(13)]).meta({
    description:
      "0 accepted; 10 bad order number (InvoiceId); 11 bad account (AccountId/Email); 12 bad amount; " +
      "13 the payment cannot be accepted.",
  }),
}).meta({ id: "CloudPaymentsAnswer" });
export type CloudPaymentsAnswer = z.output<typeof CloudPaymentsAnswer>;

const encoder = new TextEncoder();

/** The HMAC CloudPayments sends, checked in constant time; 401 `invalid_signature` otherwise. */
async function verifySignature(body: string, headers: Headers): Promise<void> {
  const secret = config().cloudPaymentsApiSecret;
  if (!secret) throw new HttpError(503, "provider_not_configured", "CLOUDPAYMENTS_API_SECRET is not set");
  const presented = headers.get("content-hmac") ?? headers.get("x-content-hmac");
  if (!presented) throw new HttpError(401, "invalid_signature", "Content-HMAC is missing");
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    [
      "verify",
    ],
  );
  let signature: Uint8Array<ArrayBuffer>;
  try {
    signature = Uint8Array.from(atob(presented.trim()), (char) => char.charCodeAt(0));
  } catch {
    throw new HttpError(401, "invalid_signature", "Content-HMAC is not base64");
  }
  // crypto.subtle.verify compares in constant time.
  if (!await crypto.subtle.verify("HMAC", key, signature, encoder.encode(body))) {
    throw new HttpError(401, "invalid_signature", "Content-HMAC does not match the body");
  }
}

/** The notification's fields, from a form body (the default) or a JSON one. */
function fieldsOf(body: string, contentType: string | undefined): Record<string, unknown> {
  if (contentType?.includes("application/json")) {
    try {
      const parsed = JSON.parse(body);
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed;
    } catch {
      // reported below
    }
    throw new HttpError(400, "validation_failed", "body: not a JSON object", [
      { path: "body", message: "not a JSON object" },
    ]);
  }
  return Object.fromEntries(new URLSearchParams(body));
}

const text = (value: unknown) => value === undefined || value === null ? "" : String(value).trim();

/** `Data`: the merchant's own JSON given to the widget (a string in a form body, an object in JSON). */
function customData(value: unknown): Record<string, unknown> {
  if (value && typeof value === "object") return value as Record<string, unknown>;
  if (typeof value !== "string" || !value.trim()) return {};
  try {
    const parsed = JSON.parse(value);
    return parsed && typeof parsed === "object" ? parsed : {};
  } catch {
    return {};
  }
}

function orderNotice(fields: Record<string, unknown>): OrderNotice {
  const data = customData(fields.Data);
  // The payer's e-mail is CloudPayments' own field (the widget's `email`, or an e-mail as AccountId), never Data:
  // Data is written by the buyer's page.
  const accountEmail = text(fields.AccountId).includes("@") ? text(fields.AccountId) : "";
  const email = text(fields.Email) || accountEmail;
  return {
    provider: "cloudpayments",
    orderId: text(fields.InvoiceId),
    transactionId: text(fields.TransactionId) || null,
    amount: text(fields.Amount),
    currency: text(fields.Currency) || null,
    email,
    // The cardholder's Latin name on the card is the last resort: the widget's Data should carry the real one.
    fullName: text(data.full_name) || text(data.name) || text(fields.Name) || email.split("@")[0],
    phone: text(data.phone) || null,
    reference: text(data.ref) || null,
    offerId: text(data.offer_id) || null,
    sendWelcomeEmail: data.send_welcome_email !== false,
    fields: { email: "Email", full_name: "Data.full_name", phone: "Data.phone", payment_amount: "Amount" },
  };
}

/** The documented code for a refusal that retrying will not change; undefined for a fault worth a retry. */
function codeFor(error: HttpError): CloudPaymentsAnswer["code"] | undefined {
  if (error.code === "email_exists" || error.code === "offer_not_found") return 13;
  if (error.code === "validation_failed") {
    const path = (error.details as { path: string }[] | undefined)?.[0]?.path ?? "";
    if (path === "InvoiceId") return 10;
    if (path === "Email") return 11;
    if (path === "Amount") return 12;
    return 13;
  }
  return undefined;
}

/**
 * One CloudPayments notification: Check admits or declines an order before the charge (its amount and currency
 * against the offer's price, its e-mail), Pay records the paid order (a student, an order attached to the
 * student with its e-mail, or the review queue: always code 0 once recorded), Refund refunds (or queues what the
 * books cannot take); Fail, Confirm and Cancel change nothing here (a failed payment made nobody; this course's
 * payments are single-step) and are acknowledged. A fault, or the academy's ceiling on orders a minute, answers
 * HTTP 5xx: CloudPayments sends it again.
 */
export async function receiveCloudPayments(
  notification: CloudPaymentsNotification,
  body: string,
  headers: Headers,
): Promise<CloudPaymentsAnswer> {
  await verifySignature(body, headers);
  const fields = fieldsOf(body, headers.get("content-type") ?? undefined);
  try {
    if (notification === "fail" || notification === "confirm" || notification === "cancel") {
      return { code: 0 };
    }
    if (!text(fields.InvoiceId)) {
      throw new HttpError(400, "validation_failed", "InvoiceId: the order number is required", [
        { path: "InvoiceId", message: "the order number is required" },
      ]);
    }
    if (notification === "refund") {
      const refundId = text(fields.TransactionId);
      if (!refundId) {
        throw new HttpError(400, "validation_failed", "TransactionId: required", [
          { path: "TransactionId", message: "required" },
        ]);
      }
      const outcome = await refundFromOrder({
        provider: "cloudpayments",
        orderId: text(fields.InvoiceId),
        refundId,
        amount: text(fields.Amount),
        currency: text(fields.Currency) || null,
        reason: `CloudPayments refund ${refundId} of payment ${text(fields.PaymentTransactionId) || "?"}`,
        fields: { amount: "Amount", reason: "TransactionId" },
      });
      log("info", "order_refund_received", { outcome: outcome.outcome, student_id: outcome.student_id });
      return { code: 0 };
    }
    const notice = orderNotice(fields);
    if (notification === "check") {
      await checkOrder(notice);
      return { code: 0 };
    }
    // Pay: the money is taken. Recorded — a student, an attached order or the review queue — it is accepted.
    const outcome = await receivePaidOrder(notice);
    log("info", "order_received", { outcome: outcome.outcome, student_id: outcome.student_id });
    return { code: 0 };
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    const code = codeFor(error);
    if (code === undefined) throw error;
    log("warn", "cloudpayments_refused", { notification, code, reason: error.code, message: error.message });
    return { code };
  }
}

/** CloudPayments' answer to an API call (developers.cloudpayments.ru, "API"): `Success`, `Message`, `Model`. */
const ApiAnswer = z.object({
  Success: z.boolean(),
  Message: z.string().nullish(),
  Model: z.object({ TransactionId: z.union([z.number(), z.string()]) }).partial().nullish(),
});

/**
 * Refunds a payment through CloudPayments' API (`POST /payments/refund`, HTTP Basic with the Public ID and the
 * API secret; `X-Request-ID` makes a repeated call answer as the first, so a retry never refunds twice). The
 * refund's own transaction id, or 502 `provider_error` — `details.refused` true when CloudPayments said no (a
 * new attempt needs a new request id), false when it did not answer (the same id again is safe).
 */
export async function refundThroughCloudPayments(
  payment: { transactionId: string; amount: string },
  requestId: string,
): Promise<string> {
  const { cloudPaymentsPublicId, cloudPaymentsApiSecret, cloudPaymentsApiUrl } = config();
  if (!cloudPaymentsPublicId || !cloudPaymentsApiSecret) {
    throw new HttpError(
      503,
      "provider_not_configured",
      "CLOUDPAYMENTS_PUBLIC_ID and CLOUDPAYMENTS_API_SECRET",
    );
  }
  let answer: z.output<typeof ApiAnswer>;
  try {
    const response = await fetch(new URL("/payments/refund", cloudPaymentsApiUrl), {
      method: "POST",
      headers: {
        authorization: `Basic ${btoa(`${cloudPaymentsPublicId}:${cloudPaymentsApiSecret}`)}`,
        "content-type": "application/json",
        "x-request-id": requestId,
      },
      // CloudPayments' API takes the amount as a JSON number; the decimal string has two places, exact there.
      body: JSON.stringify({ TransactionId: Number(payment.transactionId), Amount: Number(payment.amount) }),
      signal: AbortSignal.timeout(10_000),
    });
    answer = ApiAnswer.parse(await response.json());
  } catch (error) {
    log("warn", "cloudpayments_api_unreachable", { error: String(error) });
    throw new HttpError(502, "provider_error", "CloudPayments did not answer; try again (it refunds once)", {
      refused: false,
    });
  }
  if (!answer.Success) {
    throw new HttpError(
      502,
      "provider_error",
      `CloudPayments refused the refund: ${answer.Message ?? "no reason"}`,
      { refused: true },
    );
  }
  return String(answer.Model?.TransactionId ?? "");
}

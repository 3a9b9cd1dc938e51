/**
 * The generic provider: any checkout or CRM that signs its webhooks the Standard Webhooks way (standardwebhooks.com:
 * `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`), verified
 * by the `standardwebhooks` library with PAYMENTS_STANDARD_SECRET. A timestamp more than five minutes off is
 * refused (the library's tolerance), so a captured message cannot be replayed later; a replay inside the window
 * is the same order again, which creates nothing. Any 2xx tells the sender to stop; anything else, to retry.
 */
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { z } from "zod";
import { config } from "../_shared/config.ts";
import { HttpError } from "../_shared/errors.ts";
import { timestamp } from "../_shared/openapi.ts";
import { validationError } from "../_shared/app.ts";
import { type OrderOutcome, receivePaidOrder, refundFromOrder } from "./orders.ts";

const amount = z.union([z.number(), z.string()]).meta({
  description:
    'The amount as a plain decimal with at most two places, e.g. "490.00" (or 490). A paid amount ' +
    "that is not the offer's price in the academy's currency is recorded for review, not granted.",
});
const orderId = z.string().min(1).max(200).meta({
  description: "The checkout's order id: one student per order.",
});

export const StandardOrderPaid = z.object({
  type: z.literal("order.paid"),
  timestamp,
  data: z.object({
    order_id: orderId,
    amount,
    currency: z.string().regex(/^[A-Z]{3}$/, "an ISO 4217 code such as KZT").meta({
      description: "ISO 4217; it must be the academy's currency.",
    }),
    customer: z.object({
      email: z.string(),
      full_name: z.string(),
      phone: z.string().nullish(),
    }),
    metadata: z.object({
      ref: z.string().max(2000).optional().meta({
        description: "The reference of a manager's payment link (POST /payments/links): only a genuine, " +
          "unexpired one credits that manager; without it, the academy's default is credited.",
      }),
      offer_id: z.string().max(63).optional().meta({
        description: "The offer sold, when no reference names it; the academy's default offer otherwise.",
      }),
    }).nullish(),
    send_welcome_email: z.boolean().default(true),
  }),
}).meta({ id: "StandardOrderPaid" });

export const StandardOrderRefunded = z.object({
  type: z.literal("order.refunded"),
  timestamp,
  data: z.object({
    order_id: orderId,
    refund_id: z.string().min(1).max(200).meta({ description: "The refund's own id: taken once." }),
    amount,
    currency: z.string().regex(/^[A-Z]{3}$/, "an ISO 4217 code such as KZT").nullish(),
    reason: z.string().min(1).max(500).default("Refunded by the payment provider"),
  }),
}).meta({ id: "StandardOrderRefunded" });

/** The events this route acts on; any other type is acknowledged and ignored. */
const StandardOrderEvent = z.discriminatedUnion("type", [StandardOrderPaid, StandardOrderRefunded]);
const handledTypes: readonly string[] = ["order.paid", "order.refunded"];

/**
 * Verifies a Standard Webhooks message signed with `secret` (the function secret `secretName`; 503 when it is
 * not set); 401 `invalid_signature` says why when it is not genuine, 400 when the body is not JSON.
 */
export function verifiedMessage(
  body: string,
  headers: Headers,
  secret: string | undefined,
  secretName: string,
): unknown {
  if (!secret) {
    throw new HttpError(503, "provider_not_configured", `${secretName} is not set`);
  }
  try {
    return new Webhook(secret).verify(body, {
      "webhook-id": headers.get("webhook-id") ?? "",
      "webhook-timestamp": headers.get("webhook-timestamp") ?? "",
      "webhook-signature": headers.get("webhook-signature") ?? "",
    });
  } catch (error) {
    if (error instanceof WebhookVerificationError) {
      throw new HttpError(
        401,
        "invalid_signature",
        `Not a genuine Standard Webhooks message: ${error.message}`,
      );
    }
    if (error instanceof SyntaxError) {
      throw new HttpError(400, "validation_failed", "body: not JSON", [{
        path: "body",
        message: "not JSON",
      }]);
    }
    throw error;
  }
}

/** One signed order event: a paid order becomes a student, a refund refunds it; others are ignored. */
export async function receiveStandard(body: string, headers: Headers): Promise<OrderOutcome> {
  const message = verifiedMessage(body, headers, config().paymentsStandardSecret, "PAYMENTS_STANDARD_SECRET");
  const type = (message as { type?: unknown })?.type;
  if (typeof type !== "string" || !handledTypes.includes(type)) {
    return { outcome: "ignored", student_id: null, review: null };
  }
  const parsed = StandardOrderEvent.safeParse(message);
  if (!parsed.success) throw validationError(parsed.error.issues);
  const event = parsed.data;
  if (event.type === "order.refunded") {
    return await refundFromOrder({
      provider: "standard",
      orderId: event.data.order_id,
      refundId: event.data.refund_id,
      amount: event.data.amount,
      currency: event.data.currency ?? null,
      reason: event.data.reason,
      fields: { amount: "data.amount", reason: "data.reason" },
    });
  }
  const { data } = event;
  return await receivePaidOrder({
    provider: "standard",
    orderId: data.order_id,
    transactionId: headers.get("webhook-id"),
    amount: data.amount,
    currency: data.currency,
    email: data.customer.email,
    fullName: data.customer.full_name,
    phone: data.customer.phone ?? null,
    reference: data.metadata?.ref ?? null,
    offerId: data.metadata?.offer_id ?? null,
    sendWelcomeEmail: data.send_welcome_email,
    fields: {
      email: "data.customer.email",
      full_name: "data.customer.full_name",
      phone: "data.customer.phone",
      payment_amount: "data.amount",
    },
  });
}

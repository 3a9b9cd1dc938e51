// Orders in: a payment provider's signed notification of a paid order makes the student, of a refund refunds
// it (orders.ts), through the same paths as a manager's sale and refund button.
import { createApp, zParam } from "../_shared/app.ts";
import { describe } from "../_shared/openapi.ts";
import { z } from "zod";
import { OrderOutcome } from "./orders.ts";
import { receiveStandard } from "./standard_webhooks.ts";
import { CloudPaymentsAnswer, cloudPaymentsNotifications, receiveCloudPayments } from "./cloudpayments.ts";

const signatureErrors = {
  409: "`email_exists`: the order's e-mail belongs to another user; nothing was created. " +
    "`request_in_progress`: a copy of this order is still being made; retry.",
  422: "`refund_exceeds_payment`: more than is left of the sale.",
  429: "`too_many_creations`: the credited manager's creations a minute are used up; retry later.",
  502: "`auth_unavailable`: Supabase Auth did not create the login; nothing was created, retry.",
};

export const app = createApp("payments")
  .post(
    "/webhook/standard",
    describe({
      summary: "A paid order or a refund, from any checkout or CRM (Standard Webhooks)",
      description:
        "Signed as Standard Webhooks sign (`webhook-id`, `webhook-timestamp`, `webhook-signature`) " +
        "with the function secret `PAYMENTS_STANDARD_SECRET`; verified by the `standardwebhooks` library, " +
        "which refuses a timestamp more than five minutes off. `order.paid` (`StandardOrderPaid`) makes the " +
        "student exactly once per `order_id` (the same order again answers `already_created`, also when copies " +
        "arrive at once) with the manager its `metadata` names, else the academy's default; `order.refunded` " +
        "(`StandardOrderRefunded`) refunds through the manager's refund, once per `refund_id`. Other event types " +
        "are acknowledged (`ignored`). A 2xx tells the sender to stop; anything else, to retry.",
      access: "provider",
      ok: { status: 200, schema: OrderOutcome, description: "Done, or already done before." },
      errors: {
        400:
          "`validation_failed`: the order is not one we can make a student of (`details` name the fields, " +
          "e.g. `data.amount` over the academy's ceiling).",
        404: "`order_not_found`: a refund of an order no student came from.",
        ...signatureErrors,
      },
      headers: ["webhook-id", "webhook-timestamp", "webhook-signature"].map((name) => ({
        in: "header" as const,
        name,
        required: true,
        description: "Standard Webhooks' signature header.",
        schema: { type: "string" as const },
      })),
    }),
    async (c) => c.json(await receiveStandard(await c.req.text(), c.req.raw.headers)),
  )
  .post(
    "/webhook/cloudpayments/:notification",
    describe({
      summary: "A CloudPayments notification (Check, Pay, Fail, Confirm, Refund, Cancel)",
      description:
        "Set each notification's URL in the CloudPayments dashboard to its path here. The body is " +
        "CloudPayments' form (or JSON) with `InvoiceId` (the order: one student per order), `Amount`, " +
        "`Currency`, `Email`/`AccountId`, `TransactionId` and `Data` (the widget's JSON: `full_name`, " +
        "`phone`, `manager_id` or `manager_email`); `Content-HMAC` is base64 HMAC-SHA256 of the raw body " +
        "with the function secret `CLOUDPAYMENTS_API_SECRET`. Check declines with a documented code what Pay " +
        "would refuse; Pay makes the student; Refund refunds through the manager's refund, once per refund " +
        "`TransactionId`. Faults answer 5xx so CloudPayments sends again.",
      access: "provider",
      ok: {
        status: 200,
        schema: CloudPaymentsAnswer,
        description: "CloudPayments' answer: `code` 0 accepts.",
      },
      errors: {
        400: "`validation_failed`: a JSON body that is not an object; unknown notification kind.",
        ...signatureErrors,
      },
      headers: [{
        in: "header" as const,
        name: "Content-HMAC",
        required: true,
        description:
          "Base64 HMAC-SHA256 of the raw body with the API secret (`X-Content-HMAC` is accepted too).",
        schema: { type: "string" as const },
      }],
    }),
    zParam(z.object({ notification: z.enum(cloudPaymentsNotifications) })),
    async (c) =>
      c.json(
        await receiveCloudPayments(c.req.valid("param").notification, await c.req.text(), c.req.raw.headers),
      ),
  );

// Orders in: a payment provider's signed notification of a paid order makes the student, of a refund refunds
// it (orders.ts), through the same paths as a manager's sale and refund button; what is sold (offers.ts), who
// sold it (payment_links.ts), what waits for an admin (reviews.ts) and the books against the providers
// (reconciliation.ts).
import { createApp, requireRole, zJson, zParam, zQuery } from "../_shared/app.ts";
import { describe } from "../_shared/openapi.ts";
import { z } from "zod";
import { OrderOutcome } from "./orders.ts";
import { listOffers, Offer, OfferChange, offerIdParameter, OfferList, putOffer } from "./offers.ts";
import { createPaymentLink, NewPaymentLink, PaymentLink } from "./payment_links.ts";
import { reconcile, Reconciliation, reconciliationCsv, ReconciliationQuery } from "./reconciliation.ts";
import {
  listReviews,
  Resolution,
  resolveReview,
  Review,
  ReviewList,
  ReviewParams,
  ReviewsQuery,
} from "./reviews.ts";
import { receiveStandard } from "./standard_webhooks.ts";
import {
  listUnmatched,
  MainCourseOutcome,
  receiveMainCourse,
  UnmatchedList,
  UnmatchedQuery,
} from "./main_course.ts";
import { CloudPaymentsAnswer, cloudPaymentsNotifications, receiveCloudPayments } from "./cloudpayments.ts";

const retryErrors = {
  409: "`request_in_progress`: a copy of this order is still being made; retry.",
  502: "`auth_unavailable`: Supabase Auth did not create the login; nothing was created, retry.",
  503: "`service_unavailable` (with Retry-After): the academy's ceiling on orders a minute " +
    "(`provider_orders_per_minute`), or the database; retry.",
};
/** The three headers a Standard Webhooks message is signed with, as OpenAPI parameters. */
const standardWebhooksHeaders = ["webhook-id", "webhook-timestamp", "webhook-signature"].map((name) => ({
  in: "header" as const,
  name,
  required: true,
  description: "Standard Webhooks' signature header.",
  schema: { type: "string" as const },
}));
const admin = requireRole("admin");
const staff = requireRole("manager", "admin");

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
        "arrive at once). A paid order is always recorded and answered 200: `created` (its amount and currency " +
        "are the offer's price of the moment; credited to the manager of a genuine payment link reference in " +
        "`metadata.ref`, else the academy's default), `attached` (its e-mail is a student's: a repeat purchase), " +
        "or `queued` (`review`: a price or currency that is not the offer's, an unknown offer, a staff e-mail, " +
        "details no student can have, a student without access — for an admin, `GET /payments/reviews`). " +
        "`order.refunded` (`StandardOrderRefunded`) refunds through the manager's refund, once per `refund_id`: " +
        "`refunded`; `already_refunded` for the same refund again or a sale refunded in full; `queued` for an " +
        "unknown order or more than is left. Other event types are acknowledged (`ignored`). A 2xx tells the " +
        "sender to stop; only a fault (5xx) asks it to retry.",
      access: "provider",
      ok: { status: 200, schema: OrderOutcome, description: "Done, or already done before." },
      errors: {
        400:
          "`validation_failed`: not a Standard order event (`details` name the fields, e.g. `data.order_id` " +
          "missing); nothing was recorded.",
        ...retryErrors,
      },
      headers: standardWebhooksHeaders,
    }),
    async (c) => c.json(await receiveStandard(await c.req.text(), c.req.raw.headers)),
  )
  .post(
    "/webhook/main-course",
    describe({
      summary: "A main-course purchase or refund, from the academy's Main platform (Standard Webhooks)",
      description:
        "Signed as Standard Webhooks sign, with the function secret `MAIN_PLATFORM_WEBHOOK_SECRET` (the Main " +
        "platform's own, not a checkout's). `main_course.purchased` (`MainCoursePurchased`) is recorded once per " +
        "`purchase_id`, its amount and currency kept as they came: `matched` to the tripwire student named by " +
        "`data.handoff` (the token of the student's upgrade link; only one the project signed counts), else by " +
        "`data.customer.email`, and credited to the manager who sold the tripwire; `unmatched` otherwise — kept " +
        "and listed for admins (`GET /payments/main-course/unmatched`); `already_recorded` for the same " +
        "purchase again (also when copies arrive at once). `main_course.refunded` (`MainCourseRefunded`) takes " +
        "the credit back: `refunded`, or `already_refunded`. Other event types are acknowledged (`ignored`).",
      access: "provider",
      ok: { status: 200, schema: MainCourseOutcome, description: "Done, or already done before." },
      errors: {
        400:
          "`validation_failed`: not a main-course event (`details` name the fields); nothing was recorded.",
        409: "`purchase_unknown`: a refund of a purchase not received yet; send it again later.",
      },
      headers: standardWebhooksHeaders,
    }),
    async (c) => c.json(await receiveMainCourse(await c.req.text(), c.req.raw.headers)),
  )
  .get(
    "/main-course/unmatched",
    describe({
      summary: "Main-course purchases no tripwire student matched",
      description:
        "Newest first, with the buyer's e-mail, so an admin can find the person. Nothing the Main " +
        "platform sends is dropped: a purchase that matches nobody waits here.",
      access: "admin",
      ok: { status: 200, schema: UnmatchedList, description: "A page of unmatched purchases." },
      errors: { 403: "`forbidden`: not an admin." },
    }),
    admin,
    zQuery(UnmatchedQuery),
    async (c) => c.json(await listUnmatched(c.req.valid("query"))),
  )
  .post(
    "/webhook/cloudpayments/:notification",
    describe({
      summary: "A CloudPayments notification (Check, Pay, Fail, Confirm, Refund, Cancel)",
      description:
        "Set each notification's URL in the CloudPayments dashboard to its path here. The body is " +
        "CloudPayments' form (or JSON) with `InvoiceId` (the order: one student per order), `Amount`, " +
        "`Currency`, `Email`/`AccountId`, `TransactionId` and `Data` (the widget's JSON: `full_name`, " +
        "`phone`, `ref` — a manager's payment link reference, the only thing that credits a manager — and " +
        "`offer_id`); the account's e-mail is `Email` (or an e-mail as `AccountId`), never `Data`. " +
        "`Content-HMAC` is base64 HMAC-SHA256 of the raw body with the function secret " +
        "`CLOUDPAYMENTS_API_SECRET`. Check declines before the charge: 12 an `Amount` that is not a plain " +
        "decimal with at most two places, or not the offer's price now, or another `Currency`; 11 no usable " +
        "e-mail; 10 no `InvoiceId`; 13 an unknown offer, a staff e-mail or a student without access. Pay " +
        "records the paid order and answers 0: a student, an order attached to the student with its e-mail, or " +
        "the review queue. Refund refunds through the manager's refund, once per refund `TransactionId` (0; an " +
        "unknown order or more than is left is queued for review, also 0). A fault, or the academy's ceiling " +
        "on orders a minute, answers HTTP 5xx so CloudPayments sends it again.",
      access: "provider",
      ok: {
        status: 200,
        schema: CloudPaymentsAnswer,
        description: "CloudPayments' answer: `code` 0 accepts.",
      },
      errors: {
        400: "`validation_failed`: a JSON body that is not an object; unknown notification kind.",
        ...retryErrors,
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
  )
  .get(
    "/offers",
    describe({
      summary: "What the academy sells, and for how much now",
      description: "Every offer with its list price, promotions and price now, in the academy's currency; " +
        "`default_offer_id` is the offer an order naming none is checked against.",
      access: "manager",
      ok: { status: 200, schema: OfferList, description: "The offers." },
      errors: { 403: "`forbidden`: not staff." },
    }),
    staff,
    async (c) => c.json(await listOffers()),
  )
  .put(
    "/offers/:id",
    describe({
      summary: "Create or change an offer",
      description:
        "Its title, list price, whether it is sold, and its promotional prices (each for a window; " +
        "where windows overlap the lowest holds). Prices are decimal strings in the academy's currency. " +
        "Paid orders are checked against the price of the moment. Audited (`offer.changed`).",
      access: "admin",
      ok: { status: 200, schema: Offer, description: "The offer as it is now." },
      errors: { 403: "`forbidden`: not an admin." },
    }),
    admin,
    zParam(offerIdParameter),
    zJson(OfferChange),
    async (c) => c.json(await putOffer(c.get("user"), c.req.valid("param").id, c.req.valid("json"))),
  )
  .post(
    "/links",
    describe({
      summary: "A payment link for the caller's sale",
      description: "A reference signed by the project naming the caller, the offer and an expiry: the " +
        "checkout passes it back with the paid order (CloudPayments `Data.ref`, Standard `metadata.ref`), and " +
        "only a genuine, unexpired reference credits the caller. Anything else credits the academy's default.",
      access: "manager",
      ok: { status: 200, schema: PaymentLink, description: "The link's reference and what it sells." },
      errors: { 403: "`forbidden`: not staff.", 404: "`offer_not_found`: no active offer with this id." },
    }),
    staff,
    zJson(NewPaymentLink),
    async (c) => c.json(await createPaymentLink(c.get("user"), c.req.valid("json"))),
  )
  .get(
    "/reviews",
    describe({
      summary: "Paid orders waiting for an admin",
      description: "The review queue, newest first: every paid order that did not become access and every " +
        "provider refund the books could not take, with why (`reason`) and the order as sent. `open` counts " +
        "what waits. Page with `before` = the last page's `next_cursor`.",
      access: "admin",
      ok: { status: 200, schema: ReviewList, description: "A page of the queue." },
      errors: { 403: "`forbidden`: not an admin." },
    }),
    admin,
    zQuery(ReviewsQuery),
    async (c) => c.json(await listReviews(c.req.valid("query"))),
  )
  .post(
    "/reviews/:id/resolve",
    describe({
      summary: "Resolve a paid order under review",
      description:
        "`create_student` (with a corrected e-mail if need be: the student is made with the amount " +
        "paid, credited to the order's manager, and the order is recorded with her), `attach` (the order " +
        "recorded against an existing student), `refund` (a CloudPayments payment refunded through its API " +
        "now, once however often it is asked), `refunded` (refunded elsewhere, with a note) or `dismiss` (with " +
        "a reason). Only an order paid in the academy's currency can become or join a student. Audited " +
        "(`payment.reviewed`).",
      access: "admin",
      ok: { status: 200, schema: Review, description: "The entry, resolved." },
      errors: {
        403: "`forbidden`: not an admin.",
        404: "`review_not_found`; `student_not_found` (attach).",
        409: "`already_resolved`; `email_exists`: the e-mail has an account (attach instead).",
        502:
          "`provider_error`: CloudPayments refused the refund or did not answer (its message says which); " +
          "the entry stays open.",
      },
    }),
    admin,
    zParam(ReviewParams),
    zJson(Resolution),
    async (c) => c.json(await resolveReview(c.get("user"), c.req.valid("param").id, c.req.valid("json"))),
  )
  .get(
    "/reconciliation",
    describe({
      summary: "The books against the providers",
      description: "Per academy day, provider and currency (the days between `from` and `to`, the last 30 " +
        "by default): the paid orders and refunds the providers notified against the sales and refunds the " +
        "books hold, and every order or refund where they differ, with why — attached to a student, in " +
        "review, resolved, or `unexplained` (normally none).",
      access: "admin",
      ok: { status: 200, schema: Reconciliation, description: "The reconciliation." },
      errors: { 403: "`forbidden`: not an admin." },
    }),
    admin,
    zQuery(ReconciliationQuery),
    async (c) => c.json(await reconcile(c.req.valid("query"))),
  )
  .get(
    "/reconciliation.csv",
    describe({
      summary: "The books against the providers, as CSV",
      description:
        "`GET /payments/reconciliation` for a spreadsheet: the days, a blank line, the differences.",
      access: "admin",
      ok: { status: 200, mediaType: "text/csv", description: "The days, then the differences." },
      errors: { 403: "`forbidden`: not an admin." },
      okHeaders: {
        "content-disposition": {
          description: '`attachment; filename="reconciliation-2026-11-07-2026-12-06.csv"`.',
          schema: { type: "string" },
        },
        "cache-control": { description: "`no-store`.", schema: { type: "string" } },
      },
    }),
    admin,
    zQuery(ReconciliationQuery),
    async (c) => {
      const report = await reconcile(c.req.valid("query"));
      return c.body(reconciliationCsv(report), 200, {
        "content-type": "text/csv; charset=utf-8",
        "content-disposition": `attachment; filename="reconciliation-${report.from}-${report.to}.csv"`,
        "cache-control": "no-store",
      });
    },
  );

/**
 * The second sale comes in: the academy's Main platform tells us, as Standard Webhooks signed with its own
 * secret (MAIN_PLATFORM_WEBHOOK_SECRET), that a person bought the main course (`main_course.purchased`) or got
 * it refunded (`main_course.refunded`). A purchase is recorded once per `purchase_id` with its amount and
 * currency as they came; it is matched to the tripwire student by the handoff token the upgrade link carried
 * (_domain/handoff.ts), else by the e-mail, and credited to the manager who sold the tripwire. One that matches
 * nobody is kept with the buyer's e-mail and listed for admins — never dropped. A refund takes the credit back.
 */
import { z } from "zod";
import { validationError } from "../_shared/app.ts";
import { config } from "../_shared/config.ts";
import { db, type Sql } from "../_shared/db.ts";
import { HttpError } from "../_shared/errors.ts";
import { timestamp } from "../_shared/openapi.ts";
import { cursorParameter, encodeCursor, pageLimit } from "../_shared/paging.ts";
import { readHandoff } from "../_domain/handoff.ts";
import { parseAmount } from "./offers.ts";
import { verifiedMessage } from "./standard_webhooks.ts";

const purchaseId = z.string().min(1).max(200).meta({
  description: "The Main platform's purchase id: taken once.",
});
const amount = z.union([z.number(), z.string()])
  .transform((value, context) => {
    const parsed = parseAmount(value);
    if (!parsed || parsed === "0.00") {
      context.addIssue({
        code: "custom",
        message: 'a decimal above zero with at most two places, e.g. "150000.00"',
      });
      return z.NEVER;
    }
    return parsed;
  })
  .meta({ description: 'The amount paid as a plain decimal, e.g. "150000.00"; kept with its currency.' });

export const MainCoursePurchased = z.object({
  type: z.literal("main_course.purchased"),
  timestamp,
  data: z.object({
    purchase_id: purchaseId,
    amount,
    currency: z.string().regex(/^[A-Z]{3}$/, "an ISO 4217 code such as KZT").meta({
      description: "ISO 4217, as paid: figures keep each currency apart, never converted.",
    }),
    purchased_at: timestamp.optional().meta({
      description: "When it was paid; the message's time if left out.",
    }),
    customer: z.object({
      email: z.string().max(320).nullish().meta({
        description: "The buyer's e-mail: matched when no token is.",
      }),
    }).nullish(),
    handoff: z.string().max(4000).nullish().meta({
      description: "The `handoff` parameter of the student's upgrade link, passed back as it came.",
    }),
  }),
}).meta({ id: "MainCoursePurchased" });

export const MainCourseRefunded = z.object({
  type: z.literal("main_course.refunded"),
  timestamp,
  data: z.object({
    purchase_id: purchaseId,
    refund_id: z.string().min(1).max(200).meta({ description: "The refund's own id." }),
    refunded_at: timestamp.optional(),
  }),
}).meta({ id: "MainCourseRefunded" });

const MainCourseEvent = z.discriminatedUnion("type", [MainCoursePurchased, MainCourseRefunded]);
const handledTypes: readonly string[] = ["main_course.purchased", "main_course.refunded"];

export const MainCourseOutcome = z.object({
  outcome: z.enum(["matched", "unmatched", "already_recorded", "refunded", "already_refunded", "ignored"])
    .meta({
      description:
        "`matched` or `unmatched` (kept for an admin) for a new purchase; `already_recorded` for the same " +
        "`purchase_id` again; `refunded` or `already_refunded` for a refund; `ignored` for another event type.",
    }),
  purchase_id: z.string().nullable(),
  student_id: z.uuid().nullable(),
  manager_id: z.uuid().nullable().meta({
    description: "The manager credited: the one who sold the tripwire.",
  }),
  matched_by: z.enum(["handoff", "email"]).nullable(),
}).meta({ id: "MainCourseOutcome" });
export type MainCourseOutcome = z.output<typeof MainCourseOutcome>;

type Match = Pick<MainCourseOutcome, "student_id" | "manager_id" | "matched_by">;

/** One signed message of the Main platform. */
export async function receiveMainCourse(
  body: string,
  headers: Headers,
  sql: Sql = db(),
): Promise<MainCourseOutcome> {
  const message = verifiedMessage(
    body,
    headers,
    config().mainPlatformWebhookSecret,
    "MAIN_PLATFORM_WEBHOOK_SECRET",
  );
  const type = (message as { type?: unknown })?.type;
  if (typeof type !== "string" || !handledTypes.includes(type)) {
    return { outcome: "ignored", purchase_id: null, student_id: null, manager_id: null, matched_by: null };
  }
  const parsed = MainCourseEvent.safeParse(message);
  if (!parsed.success) throw validationError(parsed.error.issues);
  const event = parsed.data;
  return event.type === "main_course.purchased"
    ? await recordPurchase(event, sql)
    : await recordRefund(event, sql);
}

async function recordPurchase(
  event: z.output<typeof MainCoursePurchased>,
  sql: Sql,
): Promise<MainCourseOutcome> {
  const { data } = event;
  // A token that is not ours (or is damaged) is no reason to lose a paid purchase: the e-mail is tried next.
  const handoff = data.handoff ? await readHandoff(data.handoff) : null;
  const email = data.customer?.email?.trim().toLowerCase() || null;
  // One statement: copies of one purchase arriving at once meet at its primary key, one of them inserts.
  const [inserted] = await sql<Match[]>`
    with buyer as (
      select t.user_id, t.granted_by, 'handoff' as matched_by, 1 as rank
      from public.tripwire_users t where t.user_id = ${handoff?.studentId ?? null}::uuid
      union all
      select t.user_id, t.granted_by, 'email', 2
      from public.tripwire_users t where t.email = ${email}::text
      order by rank limit 1
    )
    insert into private.main_course_purchases
      (purchase_id, student_id, manager_id, matched_by, amount, currency, buyer_email, purchased_at)
    select ${data.purchase_id}, b.user_id, b.granted_by, b.matched_by, ${data.amount}::numeric, ${data.currency},
           case when b.user_id is null then ${email}::text end, ${
    data.purchased_at ?? event.timestamp
  }::timestamptz
    from (select) as one left join buyer b on true
    on conflict (purchase_id) do nothing
    returning student_id, manager_id, matched_by`;
  if (inserted) {
    return {
      outcome: inserted.student_id ? "matched" : "unmatched",
      purchase_id: data.purchase_id,
      ...inserted,
    };
  }
  const [earlier] = await sql<Match[]>`
    select student_id, manager_id, matched_by from private.main_course_purchases
    where purchase_id = ${data.purchase_id}`;
  return { outcome: "already_recorded", purchase_id: data.purchase_id, ...earlier };
}

async function recordRefund(
  event: z.output<typeof MainCourseRefunded>,
  sql: Sql,
): Promise<MainCourseOutcome> {
  const { data } = event;
  const [refunded] = await sql<Match[]>`
    update private.main_course_purchases
    set refund_id = ${data.refund_id}, refunded_at = ${data.refunded_at ?? event.timestamp}::timestamptz,
        refund_received_at = now()
    where purchase_id = ${data.purchase_id} and refund_id is null
    returning student_id, manager_id, matched_by`;
  if (refunded) return { outcome: "refunded", purchase_id: data.purchase_id, ...refunded };
  const [earlier] = await sql<Match[]>`
    select student_id, manager_id, matched_by from private.main_course_purchases
    where purchase_id = ${data.purchase_id}`;
  // A refund before its purchase: not an error of the sender's, only early; a 409 asks it to retry later.
  if (!earlier) {
    throw new HttpError(409, "purchase_unknown", "No such purchase yet: send the refund again after it");
  }
  return { outcome: "already_refunded", purchase_id: data.purchase_id, ...earlier };
}

export const UnmatchedQuery = z.strictObject({
  limit: pageLimit,
  after: cursorParameter(/^.{1,200}$/, "not a cursor this list gave"),
});
export type UnmatchedQuery = z.output<typeof UnmatchedQuery>;

export const UnmatchedPurchase = z.object({
  purchase_id: z.string(),
  amount: z.string().meta({ description: 'A decimal, e.g. "150000.00".' }),
  currency: z.string(),
  buyer_email: z.string().nullable(),
  purchased_at: timestamp,
  received_at: timestamp,
  refunded_at: timestamp.nullable(),
}).meta({ id: "UnmatchedPurchase" });

export const UnmatchedList = z.object({
  purchases: z.array(UnmatchedPurchase),
  next_cursor: z.string().nullable(),
}).meta({ id: "UnmatchedPurchaseList" });
export type UnmatchedList = z.output<typeof UnmatchedList>;

/** Main-course purchases no tripwire student matched, newest first: for an admin to follow up. */
export async function listUnmatched(query: UnmatchedQuery, sql: Sql = db()): Promise<UnmatchedList> {
  const rows = await sql<z.output<typeof UnmatchedPurchase>[]>`
    select purchase_id, amount::text as amount, currency, buyer_email,
           to_jsonb(purchased_at) #>> '{}' as purchased_at, to_jsonb(received_at) #>> '{}' as received_at,
           to_jsonb(refunded_at) #>> '{}' as refunded_at
    from private.main_course_purchases
    where student_id is null
      and (${query.after?.createdAt ?? null}::timestamptz is null
           or (received_at, purchase_id) < (${query.after?.createdAt ?? null}::timestamptz, ${
    query.after?.id ?? ""
  }))
    order by received_at desc, purchase_id desc
    limit ${query.limit + 1}`;
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    purchases: page,
    next_cursor: rows.length > query.limit && last
      ? encodeCursor({ createdAt: last.received_at, id: last.purchase_id })
      : null,
  };
}

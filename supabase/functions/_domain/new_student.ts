/**
 * What a sale makes: the new student a manager (or a paid order) asks for, and the answer the creation gives
 * (student_creation.ts). The body of `POST /create-tripwire-user` and of an accepted order alike.
 */
import { z } from "zod";
import { moneyNumber, personName } from "../_shared/input.ts";
import { phoneNumber } from "./phone.ts";
import { timestamp } from "../_shared/openapi.ts";

/** A money amount as a JSON number or a decimal string, at most two decimals; normalised to "1234.50". */
const paymentAmount = z.union([
  moneyNumber.min(0).transform((amount) => (Math.round(amount * 100) / 100).toFixed(2)),
  z.string().regex(/^\d{1,10}(\.\d{1,2})?$/, "a non-negative amount with at most two decimals")
    .transform((amount) => Number(amount).toFixed(2)),
], { error: 'a non-negative amount with at most two decimals, e.g. 490 or "490.00"' });

/** The request body. Unknown fields are refused, so a typo never silently drops data. */
export const NewStudent = z.strictObject({
  email: z.string().trim().toLowerCase().max(320)
    .meta({ format: "email", description: "Trimmed and lower-cased; unique among all users." })
    .pipe(z.email()),
  full_name: personName.meta({ description: "NFC-normalised and trimmed; must contain a letter." }),
  phone: phoneNumber.nullish().transform((phone) => phone ?? null),
  payment_amount: paymentAmount.default("0.00"),
  offer_id: z.string().max(63).optional().meta({
    description:
      "The offer sold (GET /payments/offers). Then `payment_amount` must be its price now, or come " +
      "with a `price_reason`; either is audited with the sale.",
  }),
  price_reason: z.string().trim().min(1).max(300).optional().meta({
    description: "Why this sale is not at the offer's price (a discount agreed, a partial payment…).",
  }),
  send_welcome_email: z.boolean().default(true),
  smoke_test: z.boolean().optional().meta({
    description:
      "Admins only (`npm run smoke`): a student who proves the flow and leaves nothing — no welcome " +
      "e-mail, no event reaches the CRM, and `POST /students/{id}/erase` removes every row about them.",
  }),
}).meta({ id: "NewStudent" });
export type NewStudent = z.output<typeof NewStudent>;

/** The 201 body; `password` is shown once (and again only to an identical retry, see idempotency.ts). */
export const CreatedStudent = z.object({
  id: z.uuid(),
  email: z.string(),
  full_name: z.string(),
  phone: z.string().nullable(),
  password: z.string().nullable().meta({
    description: "The generated password, shown once: in this answer and to an identical retry. null on a " +
      "retry whose password can no longer be unsealed.",
  }),
  payment_amount: z.number().min(0),
  currency: z.string().meta({ description: "ISO 4217: the academy's currency, of `payment_amount`." }),
  unlocked_module: z.object({ id: z.number().int(), position: z.number().int(), title: z.string() }),
  welcome_email: z.enum(["sent", "queued", "not_configured", "skipped"]).meta({
    description:
      "`queued`: the provider refused for now, retried; `not_configured`: no e-mail provider is set " +
      "up (RESEND_API_KEY), the e-mail waits until one is — give the student the password yourself.",
  }),
  created_at: timestamp,
}).meta({ id: "CreatedStudent" });
export type CreatedStudent = z.output<typeof CreatedStudent>;

export interface CreationResult {
  status: 201;
  body: CreatedStudent;
  /** True when this is the stored answer to an earlier request with the same Idempotency-Key. */
  replayed: boolean;
}

/** The paid order a student comes from (payments function): recorded with the student, once per order. */
export interface PaidOrder {
  provider: "standard" | "cloudpayments";
  orderId: string;
  currency: string | null;
  transactionId: string | null;
}

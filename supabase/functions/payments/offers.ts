/**
 * What the academy sells and for how much (private.offers, private.offer_promotions): a list price and
 * promotional prices for a window, all in the academy's one currency (academy.settings.currency). Money is a
 * decimal string from end to end ("490.00"): Postgres compares it, never a JavaScript number. Admins change an
 * offer; every change is audited as `offer.changed`.
 */
import { z } from "zod";
import { audit } from "../_domain/audit.ts";
import type { AuthUser } from "../_shared/auth.ts";
import { db, type Sql, type Transaction, withTransaction } from "../_shared/db.ts";
import { HttpError } from "../_shared/errors.ts";
import { timestamp } from "../_shared/openapi.ts";

/** A price as a provider or a person writes it: a plain decimal, at most two places ("490", "490.00"). */
export const decimalAmount = /^\d{1,10}(\.\d{1,2})?$/;

/** A plain decimal amount normalised to two places ("490" → "490.00"), or null: never through Number(). */
export function parseAmount(value: unknown): string | null {
  const text = typeof value === "number" ? String(value) : typeof value === "string" ? value.trim() : "";
  if (!decimalAmount.test(text)) return null;
  const [whole, fraction = ""] = text.split(".");
  return `${whole.replace(/^0+(?=\d)/, "")}.${fraction.padEnd(2, "0")}`;
}

const price = z.string().regex(decimalAmount, 'a decimal with at most two places, e.g. "4990.00"')
  .transform((value) => parseAmount(value)!)
  .refine((value) => value !== "0.00", "more than zero");

const Promotion = z.strictObject({
  price,
  starts_at: z.iso.datetime({ offset: true }),
  ends_at: z.iso.datetime({ offset: true }),
}).refine((promotion) => Date.parse(promotion.ends_at) > Date.parse(promotion.starts_at), {
  path: ["ends_at"],
  message: "after starts_at",
});

export const OfferChange = z.strictObject({
  title: z.string().trim().min(1).max(200),
  list_price: price,
  active: z.boolean().default(true),
  promotions: z.array(Promotion).max(20).default([]),
}).meta({ id: "OfferChange" });
export type OfferChange = z.output<typeof OfferChange>;

export const offerIdParameter = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "lower-case letters, digits, '-' and '_'"),
});

export const Offer = z.object({
  id: z.string(),
  title: z.string(),
  currency: z.string().meta({ description: "ISO 4217: the academy's currency." }),
  list_price: z.string().meta({ description: 'A decimal string, e.g. "490.00".' }),
  price: z.string().nullable().meta({
    description: "What it sells for now (a current promotion, else the list price); null while inactive.",
  }),
  active: z.boolean(),
  promotions: z.array(z.object({ price: z.string(), starts_at: timestamp, ends_at: timestamp })),
}).meta({ id: "Offer" });
export type Offer = z.output<typeof Offer>;

export const OfferList = z.object({
  currency: z.string(),
  default_offer_id: z.string().nullable().meta({
    description: "The offer an order naming none is checked against: the oldest active one.",
  }),
  offers: z.array(Offer),
}).meta({ id: "OfferList" });
export type OfferList = z.output<typeof OfferList>;

const offerColumns = (sql: Sql | Transaction) =>
  sql`
  o.id, o.title, s.currency, o.list_price::text, private.offer_price(o.id, now())::text as price, o.active,
  coalesce((select jsonb_agg(jsonb_build_object('price', p.price::text, 'starts_at', p.starts_at,
                                                'ends_at', p.ends_at) order by p.starts_at)
            from private.offer_promotions p where p.offer_id = o.id), '[]') as promotions`;

/** Every offer, with its price now. */
export async function listOffers(sql: Sql = db()): Promise<OfferList> {
  const offers = await sql<Offer[]>`
    select ${
    offerColumns(sql)
  } from private.offers o cross join academy.settings s order by o.created_at, o.id`;
  const [settings] = await sql<{ currency: string }[]>`select currency from academy.settings`;
  return OfferList.parse({
    currency: settings.currency,
    default_offer_id: offers.find((offer) => offer.active)?.id ?? null,
    offers,
  });
}

/**
 * The condition and order that pick an offer `o`: the one named, or the academy's default when none is — the
 * oldest active offer. Followed by `limit 1`.
 */
export function offerChosen(sql: Sql, id: string | null) {
  return sql`${id === null ? sql`o.active` : sql`o.id = ${id}`} order by o.created_at, o.id`;
}

/** One offer by id, or the default (the oldest active one) when `id` is null; undefined if there is none. */
export async function offerById(sql: Sql, id: string | null): Promise<Offer | undefined> {
  const [offer] = await sql<Offer[]>`
    select ${offerColumns(sql)} from private.offers o cross join academy.settings s
    where ${offerChosen(sql, id)} limit 1`;
  return offer;
}

/** Creates or changes an offer and its promotions, in one transaction, audited with what changed. */
export async function putOffer(
  admin: AuthUser,
  id: string,
  change: OfferChange,
  sql: Sql = db(),
): Promise<Offer> {
  return await withTransaction(async (tx) => {
    const [before] = await tx<Offer[]>`
      select ${offerColumns(tx)} from private.offers o cross join academy.settings s where o.id = ${id}
      for update of o`;
    await tx`
      insert into private.offers (id, title, list_price, active)
      values (${id}, ${change.title}, ${change.list_price}::numeric, ${change.active})
      on conflict (id) do update set title = excluded.title, list_price = excluded.list_price, active = excluded.active`;
    await tx`delete from private.offer_promotions where offer_id = ${id}`;
    if (change.promotions.length > 0) {
      await tx`
        insert into private.offer_promotions (offer_id, price, starts_at, ends_at)
        select ${id}, p.price, p.starts_at, p.ends_at
        from jsonb_to_recordset(${tx.json(change.promotions)}) as p(price numeric, starts_at timestamptz,
                                                                   ends_at timestamptz)`;
    }
    const [after] = await tx<Offer[]>`
      select ${offerColumns(tx)} from private.offers o cross join academy.settings s where o.id = ${id}`;
    if (!after) throw new HttpError(500, "internal_error", "The offer was not written");
    const fields = ["title", "list_price", "active", "promotions"] as const;
    const changes = Object.fromEntries(
      fields
        .filter((field) => JSON.stringify(before?.[field] ?? null) !== JSON.stringify(after[field]))
        .map((field) => [field, { before: before?.[field] ?? null, after: after[field] }]),
    );
    await audit(tx, { actor: admin, action: "offer.changed", target: { type: "offer", id }, changes });
    return Offer.parse(after);
  }, sql);
}

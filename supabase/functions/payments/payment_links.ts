/**
 * Attribution the buyer cannot forge: a manager's payment link carries a reference the project signed (a JWT,
 * HS256, with jose) naming the manager, the offer and an expiry. The checkout hands it back with the paid
 * order (CloudPayments' `Data.ref`, Standard Webhooks' `metadata.ref`); only a reference whose signature holds
 * credits its manager. Anything else a buyer's browser could write — a manager's id or e-mail in `Data` —
 * credits the academy's default, so nobody can give a sale to a manager of their choosing.
 */
import { jwtVerify, SignJWT } from "jose";
import { z } from "zod";
import type { AuthUser } from "../_shared/auth.ts";
import { derivedKey, sealingSecrets } from "../_shared/derived_keys.ts";
import { db, type Sql } from "../_shared/db.ts";
import { HttpError } from "../_shared/errors.ts";
import { timestamp } from "../_shared/openapi.ts";
import { type Offer, offerById } from "./offers.ts";

const audience = "tripwire:payment-link";

/** One HMAC key per sealing secret (newest first), derived for this use only, so rotation keeps links valid. */
const linkKeys = () =>
  Promise.all(
    sealingSecrets().map((secret) =>
      derivedKey(secret, audience, { name: "HMAC", hash: "SHA-256", length: 256 }, ["sign", "verify"])
    ),
  );

export const NewPaymentLink = z.strictObject({
  offer_id: z.string().min(1).max(63).optional().meta({
    description: "The offer sold; the academy's default offer when left out.",
  }),
  valid_hours: z.number().int().min(1).max(24 * 90).default(24 * 7).meta({
    description: "How long the link credits the manager (1 hour to 90 days; 7 days by default).",
  }),
}).meta({ id: "NewPaymentLink" });
export type NewPaymentLink = z.output<typeof NewPaymentLink>;

export const PaymentLink = z.object({
  reference: z.string().meta({
    description: "Pass to the checkout: CloudPayments' widget `data.ref`, a Standard Webhooks order's " +
      "`metadata.ref`. Signed by the project; only it credits the manager.",
  }),
  manager_id: z.uuid(),
  offer: z.object({
    id: z.string(),
    title: z.string(),
    price: z.string().meta({ description: 'The offer\'s price now, a decimal string such as "490.00".' }),
    currency: z.string().meta({ description: "ISO 4217, the academy's currency." }),
  }),
  expires_at: timestamp,
}).meta({ id: "PaymentLink" });
export type PaymentLink = z.output<typeof PaymentLink>;

/** A payment link for `manager`'s sale of an offer (404 `offer_not_found` for an unknown or inactive one). */
export async function createPaymentLink(
  manager: AuthUser,
  input: NewPaymentLink,
  sql: Sql = db(),
): Promise<PaymentLink> {
  const offer = await offerById(sql, input.offer_id ?? null);
  if (!offer?.price) {
    throw new HttpError(404, "offer_not_found", "No active offer with this id", { offer_id: input.offer_id });
  }
  const expiresAt = new Date(Date.now() + input.valid_hours * 3_600_000);
  const [key] = await linkKeys();
  const reference = await new SignJWT({ offer: offer.id })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(manager.id)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
    .sign(key);
  return {
    reference,
    manager_id: manager.id,
    offer: linkOffer(offer),
    expires_at: expiresAt.toISOString(),
  };
}

function linkOffer(offer: Offer) {
  return { id: offer.id, title: offer.title, price: offer.price!, currency: offer.currency };
}

/** What a genuine, unexpired reference says; null for anything else (absent, forged, expired, garbled). */
export async function readPaymentLink(
  reference: string | null,
): Promise<{ managerId: string; offerId: string } | null> {
  if (!reference) return null;
  for (const key of await linkKeys()) {
    try {
      const { payload } = await jwtVerify(reference, key, { audience, algorithms: ["HS256"] });
      const managerId = z.uuid().safeParse(payload.sub);
      const offerId = z.string().min(1).safeParse(payload.offer);
      if (managerId.success && offerId.success) return { managerId: managerId.data, offerId: offerId.data };
      return null;
    } catch {
      // Not signed with this key (or expired, or not a JWT): try the next key.
    }
  }
  return null;
}

/**
 * The handoff to the main course. A student who completed the course is offered the main course through a
 * personal upgrade link (tracked: second-sale's `GET /upgrade/{token}` notes the open, then redirects) to the
 * academy's checkout (`main_course_checkout_url`) with `?handoff=<token>`, a JWT the
 * project signed (HS256, jose, a key derived for this use only) naming the student, the manager credited for
 * the tripwire sale, the offer's deadline (`exp`: completion + `main_course_offer_hours`) and, when the academy
 * credits it, the tripwire's price. The Main platform sends the token back with the purchase
 * (`main_course.purchased`'s `data.handoff`); a token whose signature holds names the buyer without the e-mail.
 *
 * The token is the same each time it is made for a student (its times are the completion's), so the dashboard,
 * the certificate page and the `course.completed` event carry one link.
 */
import { compactVerify, SignJWT } from "jose";
import { z } from "zod";
import { config } from "../_shared/config.ts";
import { derivedKey, sealingSecrets } from "../_shared/derived_keys.ts";
import type { Sql, Transaction } from "../_shared/db.ts";

const audience = "tripwire:handoff";

const handoffKeys = () =>
  Promise.all(
    sealingSecrets().map((secret) =>
      derivedKey(secret, audience, { name: "HMAC", hash: "SHA-256", length: 256 }, ["sign", "verify"])
    ),
  );

/** What the upgrade link offers; the API answers it as `upgrade`. */
export const UpgradeOfferSchema = z.object({
  url: z.string().meta({
    description: "The link to send or show: it notes that the student opened it (a call-list signal) and " +
      "leads to `checkout_url`.",
  }),
  checkout_url: z.string().meta({
    description: "The main course's checkout with this student's `handoff` token (signed by the project); " +
      "the Main platform sends the token back with the purchase.",
  }),
  expires_at: z.string().meta({
    description: "The offer's deadline: completion + the academy's offer hours.",
  }),
  tripwire_credit: z.object({ amount: z.string(), currency: z.string() }).nullable().meta({
    description: "The tripwire's price credited against the main course (what the student paid, net of " +
      "refunds), when the academy credits it.",
  }),
}).meta({ id: "UpgradeOffer" });
export type UpgradeOffer = z.output<typeof UpgradeOfferSchema>;

/** Who a genuine token names. */
export interface Handoff {
  studentId: string;
  managerId: string;
}

/** The upgrade offer for a student, or null: no checkout set, no valid certificate, or the course bought. */
export async function upgradeOffer(sql: Sql | Transaction, studentId: string): Promise<UpgradeOffer | null> {
  const [row] = await sql<{
    granted_by: string;
    issued_at: Date;
    paid: string;
    currency: string;
    checkout_url: string | null;
    offer_hours: number;
    credits_tripwire: boolean;
    bought: boolean;
  }[]>`
    select t.granted_by, c.issued_at, (t.payment_amount - t.refunded_amount)::text as paid, s.currency,
           s.main_course_checkout_url as checkout_url, s.main_course_offer_hours as offer_hours,
           s.main_course_credits_tripwire as credits_tripwire,
           exists (select from private.main_course_purchases p
                   where p.student_id = t.user_id and p.refunded_at is null) as bought
    from public.tripwire_users t
    join public.certificates c on c.user_id = t.user_id and c.revoked_at is null
    cross join academy.settings s
    where t.user_id = ${studentId}`;
  if (!row?.checkout_url || row.bought) return null;
  const issuedAt = Math.floor(row.issued_at.getTime() / 1000);
  const expiresAt = issuedAt + row.offer_hours * 3600;
  const credit = row.credits_tripwire && Number(row.paid) > 0
    ? { amount: row.paid, currency: row.currency }
    : null;
  const [key] = await handoffKeys();
  const token = await new SignJWT({ mgr: row.granted_by, ...(credit ? { credit } : {}) })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setAudience(audience)
    .setSubject(studentId)
    .setIssuedAt(issuedAt)
    .setExpirationTime(expiresAt)
    .sign(key);
  return {
    url: trackedLink(token),
    checkout_url: checkoutWith(row.checkout_url, token),
    expires_at: new Date(expiresAt * 1000).toISOString(),
    tripwire_credit: credit,
  };
}

/** The academy's checkout with a handoff token (its own parameters kept). */
export function checkoutWith(checkoutUrl: string, token: string): string {
  const url = new URL(checkoutUrl);
  url.searchParams.set("handoff", token);
  return url.toString();
}

/** The tracked link: second-sale's `GET /upgrade/{token}` notes the open and leads on to the checkout. */
function trackedLink(token: string): string {
  const path = `/functions/v1/second-sale/upgrade/${token}`;
  const base = config().supabaseUrl;
  return base ? new URL(path, base).toString() : path;
}

/**
 * Who a handoff token names, when the project signed it (any of its sealing secrets, so a rotation keeps old
 * links working); null otherwise. A purchase after the offer's deadline still came through the link, so the
 * deadline limits the offer at the checkout, not the attribution: `exp` is not checked here.
 */
export async function readHandoff(token: string): Promise<Handoff | null> {
  for (const key of await handoffKeys()) {
    try {
      const { payload } = await compactVerify(token, key, { algorithms: ["HS256"] });
      const claims = JSON.parse(new TextDecoder().decode(payload));
      if (claims.aud !== audience || typeof claims.sub !== "string" || typeof claims.mgr !== "string") {
        return null;
      }
      return { studentId: claims.sub, managerId: claims.mgr };
    } catch {
      // Not this key's signature (or not a token at all): the next key, then null.
    }
  }
  return null;
}

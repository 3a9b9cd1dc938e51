/**
 * A checkout as the payment providers send their notifications: a Standard Webhooks message signed as the
 * `standardwebhooks` library signs it, and a CloudPayments form body signed in `Content-HMAC` (base64
 * HMAC-SHA256 of the raw body with the API secret). One place for the tests, the fault scenarios and the bench.
 */
import { Webhook } from "standardwebhooks";

/** A Standard Webhooks message (`{type, timestamp, data}`) as a signed request. */
export function standardRequest(
  secret: string,
  message: unknown,
  options: { sentAt?: Date; id?: string } = {},
): RequestInit {
  const body = JSON.stringify(message);
  const id = options.id ?? `msg_${crypto.randomUUID()}`;
  const sentAt = options.sentAt ?? new Date();
  return {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)),
      "webhook-signature": new Webhook(secret).sign(id, sentAt, body),
    },
    body,
  };
}

/** CloudPayments' `Content-HMAC` of a raw body. */
export async function contentHmac(secret: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body)));
  return btoa(String.fromCharCode(...signature));
}

/** A CloudPayments notification's form body as a signed request. */
export async function cloudPaymentsRequest(
  secret: string,
  fields: Record<string, string>,
): Promise<RequestInit> {
  const body = new URLSearchParams(fields).toString();
  return {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "content-hmac": await contentHmac(secret, body),
    },
    body,
  };
}

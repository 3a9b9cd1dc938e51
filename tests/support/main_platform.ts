/** The academy's Main platform as the tests play it: signed main-course purchases and refunds. */
import { standardRequest } from "../../scripts/lib/checkout.ts";
import { callFunction, mainPlatformSecret } from "./server.ts";

export const unique = () => crypto.randomUUID().slice(0, 8);

/** The Main platform's signed message (with another secret when given). */
export function fromMainPlatform(message: unknown, secret = mainPlatformSecret): Promise<Response> {
  return callFunction("payments/webhook/main-course", standardRequest(secret, message));
}

/** `main_course.purchased` as the Main platform documents it, at 150,000 KZT unless told. */
export function purchased(data: Record<string, unknown>) {
  return {
    type: "main_course.purchased",
    timestamp: new Date().toISOString(),
    data: { purchase_id: `main-${unique()}`, amount: "150000.00", currency: "KZT", ...data },
  };
}

/** `main_course.refunded` of a purchase. */
export function refunded(purchaseId: string) {
  return {
    type: "main_course.refunded",
    timestamp: new Date().toISOString(),
    data: { purchase_id: purchaseId, refund_id: `r-${unique()}` },
  };
}

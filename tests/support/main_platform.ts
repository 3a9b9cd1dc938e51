/**
 * The second sale as the tests play it: the academy's Main platform (signed main-course purchases and refunds),
 * students sold for it, and the scheduler's jobs run on demand.
 */
import { standardRequest } from "../../scripts/lib/checkout.ts";
import type { TestStudent } from "./learning.ts";
import { expectJson } from "./responses.ts";
import { callFunction, mainPlatformSecret, serviceKey, tokenFor } from "./server.ts";
import { newStudentBody, postStudent } from "./students.ts";

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

/** `managerId` sells the tripwire to `name` (no e-mail sent): the student's id, token and e-mail. */
export async function sell(
  managerId: string,
  name: string,
  extra: Record<string, unknown> = {},
): Promise<TestStudent & { email: string }> {
  const body = newStudentBody(name, { send_welcome_email: false, ...extra });
  const created = await expectJson(await postStudent(managerId, body), 201);
  return { id: created.id, token: await tokenFor(created.id), email: body.email };
}

/** A scheduled job's route (`second-sale/refresh`, `webhooks/deliver`…) called as the scheduler calls it. */
export async function runJob(route: string) {
  return await expectJson(await callFunction(route, { method: "POST", headers: { apikey: serviceKey } }));
}

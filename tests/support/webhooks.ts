/** Events out as the webhooks stories drive them: registering endpoints and running deliveries. */
import { saule } from "./fixtures.ts";

import { expectJson } from "./responses.ts";
import { appDatabase, callAs, callFunction, serviceKey } from "./server.ts";
import { type EventType } from "../../supabase/functions/_domain/events.ts";

export const sql = appDatabase.sql;

/** The scheduler's run: every due delivery attempted. */
export async function deliver() {
  return await expectJson(
    await callFunction("webhooks/deliver", { method: "POST", headers: { apikey: serviceKey } }),
  );
}

/** Saule (an admin) registers an endpoint for these event types. */
export async function register(url: string, eventTypes: EventType[]) {
  return await expectJson(
    await callAs(saule.id, "webhooks/endpoints", { url, event_types: eventTypes }),
    201,
  );
}

/** Other stories' endpoints stop taking events, so each story counts only its own deliveries. */
export async function disableOthers() {
  await sql`update private.webhook_endpoints set disabled_at = now() where disabled_at is null`;
  await sql`update private.webhook_deliveries set status = 'failed' where status = 'pending'`;
}

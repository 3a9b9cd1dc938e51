/**
 * Every event type the academy's endpoints can take: the labels of the enum `public.webhook_event_type`, as
 * `supabase gen types` carries them (the tables hold the enum, so the list is defined once, in SQL). Only the
 * generated constants are imported, so the web app can offer the list too.
 */
import { Constants } from "../_generated/database.types.ts";

export const eventTypes = Constants.public.Enums.webhook_event_type;
export type EventType = (typeof eventTypes)[number];

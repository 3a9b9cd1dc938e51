/// <reference lib="dom" />
/** The activity feed's entries, as the leaderboard and a student's page show them. */

import type { ActivityFeed } from "../../supabase/functions/leaderboard/leaderboard.ts";

import { h } from "./dom.ts";
import { formatDate, formatMoney, t } from "./i18n.ts";

/** An event of the feed (the leaderboard's and a student's part of it). */
export type FeedEvent = Pick<ActivityFeed["events"][number], "event_type" | "created_at"> & {
  details: unknown;
};

export function feedText(event: FeedEvent, currency: string): string {
  const details = event.details as Record<string, string | number>;
  return t(`feed.${event.event_type}`, {
    manager: details.manager_name ?? "",
    student: details.student_name ?? "",
    amount: formatMoney(details.payment_amount ?? details.amount ?? 0, currency),
    lesson: details.lesson_title ?? "",
    module: details.module_title ?? "",
    number: details.certificate_number ?? "",
    reason: details.reason ?? "",
  });
}

export function feedItem(event: FeedEvent, currency: string): HTMLElement {
  return h(
    "li",
    {},
    h("time", { dateTime: event.created_at }, formatDate(event.created_at)),
    " ",
    feedText(event, currency),
  );
}

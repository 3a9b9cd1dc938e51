// The second sale: how the tripwire's buyers go on to buy the main course — the funnel by the sale's cohort,
// every manager's conversion, the weekly cohorts — and the minute job that keeps their sums.
import { createApp, requireRole, requireServiceRole, zParam, zQuery } from "../_shared/app.ts";
import { describe } from "../_shared/openapi.ts";
import { z } from "zod";
import {
  ConversionFigures,
  conversionFigures,
  ConversionQuery,
  ManagersConversion,
  managersConversion,
  ManagersQuery,
} from "./conversion.ts";
import { runJob } from "./jobs.ts";
import { Cohorts, cohorts, CohortsQuery } from "./cohorts.ts";
import { CallList, callList, CallListQuery, openUpgradeLink } from "./call_list.ts";
import {
  lessonRetention,
  Retention,
  RetentionLessons,
  retentionLessons,
  RetentionParams,
} from "./retention.ts";
import { negotiateLanguage } from "../_shared/language.ts";

const staff = requireRole("manager", "admin");
const staffErrors = { 403: "`forbidden`: not a manager or an admin." };

export const app = createApp("second-sale")
  .get(
    "/figures",
    describe({
      summary: "The funnel: sold → started → completed → bought the main course",
      description:
        "Of the students sold between `from` and `to` (academy days; all time without `from`): how " +
        "many started, completed and bought the main course, each as a count and a rate; the main course's " +
        "revenue from them per currency (never converted); the median days to the purchase from the tripwire " +
        "sale and from completion. A manager reads their own students; an admin everyone's, or one " +
        "manager's. Refreshed every minute.",
      access: "manager",
      ok: { status: 200, schema: ConversionFigures, description: "The figures." },
      errors: staffErrors,
    }),
    staff,
    zQuery(ConversionQuery),
    async (c) => c.json(await conversionFigures(c.get("user"), c.req.valid("query"))),
  )
  .get(
    "/managers",
    describe({
      summary: "Every manager's second sale, ranked",
      description: "Per manager, the funnel of the students they sold between `from` and `to` (all time " +
        "without), ranked by `order_by` — the leaderboard of the second sale, for every manager to see as the " +
        "sales leaderboard is —: buyers of the main course (default), conversion, its revenue in the " +
        "academy's currency, or tripwire sales.",
      access: "manager",
      ok: { status: 200, schema: ManagersConversion, description: "The managers, ranked." },
      errors: staffErrors,
    }),
    staff,
    zQuery(ManagersQuery),
    async (c) => c.json(await managersConversion(c.req.valid("query"))),
  )
  .get(
    "/cohorts",
    describe({
      summary: "Weekly cohorts: who bought the main course by week W+k",
      description:
        "For each of the last `weeks` sale weeks (Mondays, academy time): students sold, and how " +
        "many of them had bought the main course by the end of each week since.",
      access: "manager",
      ok: { status: 200, schema: Cohorts, description: "The cohorts, oldest first." },
      errors: staffErrors,
    }),
    staff,
    zQuery(CohortsQuery),
    async (c) => c.json(await cohorts(c.get("user"), c.req.valid("query"))),
  )
  .get(
    "/call-list",
    describe({
      summary: "Who to call now: students ready for the main course",
      description: "The manager's students who have not bought the main course, hottest first by the heat " +
        'score (docs/architecture.md, "The second sale"): completed the course (30), in the last 24 hours ' +
        "(+15), opened the upgrade link (25), came back after a stall (15), watched a completed lesson again " +
        "(10 each, at most two); `ready` from `threshold` (50). Each row says why and when, the phone and " +
        "e-mail, and the link to send. Live, not as of a refresh.",
      access: "manager",
      ok: { status: 200, schema: CallList, description: "The list, hottest first." },
      errors: staffErrors,
    }),
    staff,
    zQuery(CallListQuery),
    async (c) => c.json(await callList(c.get("user"), c.req.valid("query"))),
  )
  .get(
    "/upgrade/:token",
    describe({
      summary: "A graduate's upgrade link: noted, then on to the checkout",
      description:
        "What `upgrade.url` leads to. Notes the open (a call-list signal) and answers 302 to the " +
        "main course's checkout with the `handoff` token.",
      access: "public",
      ok: { status: 302, description: "To the checkout.", redirect: true },
      errors: { 404: "`not_found`: not a link the project signed, or no checkout is set." },
    }),
    async (c) => c.redirect(await openUpgradeLink(c.req.param("token")), 302),
  )
  .get(
    "/retention",
    describe({
      summary: "The lessons whose retention can be read",
      description:
        "The course's lessons in order, titled in the caller's language, with how many started each.",
      access: "manager",
      language: true,
      ok: { status: 200, schema: RetentionLessons, description: "The lessons." },
      errors: staffErrors,
    }),
    staff,
    negotiateLanguage,
    async (c) => c.json(await retentionLessons(c.get("language"))),
  )
  .get(
    "/retention/:lesson_id",
    describe({
      summary: "Where students leave a lesson: its retention curve",
      description: "The share of the lesson's starters who watched each second, for everyone, for students " +
        "who bought the main course and for those who did not, from the stored watched ranges (computed every " +
        "quarter of an hour: `computed_at`); and the steepest ten-second falls.",
      access: "manager",
      ok: { status: 200, schema: Retention, description: "The curves." },
      errors: { ...staffErrors, 404: "`lesson_not_found`." },
    }),
    staff,
    zParam(RetentionParams),
    async (c) => c.json(await lessonRetention(c.req.valid("param").lesson_id)),
  )
  // For pg_cron's stand-ins: `npm start`, external schedulers.
  .post(
    "/refresh",
    describe({
      summary: "Refresh the second sale's figures",
      description:
        "For the scheduler (every minute, when pg_cron does not): the students whose sale, start, " +
        "completion, main-course purchase or refund is new since the last run, recomputed.",
      access: "service",
      ok: {
        status: 200,
        schema: z.record(z.string(), z.unknown()).meta({ id: "ConversionRefresh" }),
        description: "What the refresh did (or that another was running).",
      },
    }),
    requireServiceRole(),
    async (c) => c.json(await runJob("conversion")),
  )
  .post(
    "/refresh-retention",
    describe({
      summary: "Recompute the lessons' retention curves",
      description: "For the scheduler (every quarter of an hour, when pg_cron does not).",
      access: "service",
      ok: {
        status: 200,
        schema: z.record(z.string(), z.unknown()).meta({ id: "RetentionRefresh" }),
        description: "What the refresh did (or that another was running).",
      },
    }),
    requireServiceRole(),
    async (c) => c.json(await runJob("retention")),
  );

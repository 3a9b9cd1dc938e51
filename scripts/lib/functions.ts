/**
 * Every edge function's app, by its URL name: what the local server serves, what the OpenAPI document
 * describes and what the tests walk. tests/config_test.ts holds it equal to the functions config.toml
 * deploys.
 */
import type { Hono } from "hono";
import { app as audit } from "../../supabase/functions/audit/routes.ts";
import { app as certificatePdf } from "../../supabase/functions/certificate-pdf/routes.ts";
import { app as completeLesson } from "../../supabase/functions/complete-lesson/routes.ts";
import { app as createTripwireUser } from "../../supabase/functions/create-tripwire-user/routes.ts";
import { app as leaderboard } from "../../supabase/functions/leaderboard/routes.ts";
import { app as payments } from "../../supabase/functions/payments/routes.ts";
import { app as secondSale } from "../../supabase/functions/second-sale/routes.ts";
import { app as studentDashboard } from "../../supabase/functions/student-dashboard/routes.ts";
import { app as staff } from "../../supabase/functions/staff/routes.ts";
import { app as status } from "../../supabase/functions/status/routes.ts";
import { app as students } from "../../supabase/functions/students/routes.ts";
import { app as videoTracking } from "../../supabase/functions/video-tracking/routes.ts";
import { app as webhooks } from "../../supabase/functions/webhooks/routes.ts";

// deno-lint-ignore no-explicit-any
export type FunctionApp = Hono<any, any, any>;

/** The functions served locally, by URL name. */
export const functions: Record<string, FunctionApp> = {
  "audit": audit,
  "certificate-pdf": certificatePdf,
  "complete-lesson": completeLesson,
  "create-tripwire-user": createTripwireUser,
  "leaderboard": leaderboard,
  "payments": payments,
  "second-sale": secondSale,
  "staff": staff,
  "status": status,
  "student-dashboard": studentDashboard,
  "students": students,
  "video-tracking": videoTracking,
  "webhooks": webhooks,
};

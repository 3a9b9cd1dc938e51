// Is it healthy? A public answer a monitor can poll (ok / degraded, nothing more) and the admin's whole report.
import { createApp, requireRole } from "../_shared/app.ts";
import { describe } from "../_shared/openapi.ts";
import { PublicStatus, publicStatus, StatusReport, statusReport } from "./status.ts";

export const app = createApp("status")
  .get(
    "/",
    describe({
      summary: "Healthy or not, for a monitor",
      description:
        "200 `ok`, or 503 `degraded` when anything in the admin's report is a problem; no details. " +
        "Computed at most every 10 s per process.",
      access: "public",
      ok: { status: 200, schema: PublicStatus, description: "`ok` (200) or `degraded` (503)." },
      errors: {},
    }),
    async (c) => {
      const answer = await publicStatus();
      c.header("cache-control", "no-store");
      return c.json(answer, answer.status === "ok" ? 200 : 503);
    },
  )
  .get(
    "/report",
    describe({
      summary: "The whole status report",
      description:
        "The database and its latency, each scheduled job's last run, the Vault secrets the jobs " +
        "need, the e-mail outbox, the webhook backlog and paused endpoints, paid orders waiting, the migration " +
        "and build, and the last hour's requests per function and route; `problems` says what makes it degraded.",
      access: "admin",
      ok: { status: 200, schema: StatusReport, description: "The report, fresh." },
      errors: { 403: "`forbidden`: not an admin." },
    }),
    requireRole("admin"),
    async (c) => {
      c.header("cache-control", "no-store");
      return c.json(await statusReport());
    },
  );

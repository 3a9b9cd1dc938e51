/// <reference lib="dom" />
/**
 * The admin's Status screen: is Tripwire healthy, and if not, why — the report of GET /status/report (the
 * database, the scheduled jobs, the queues, the build) and the last hour's requests per function and route.
 */
import type { StatusReport } from "../../supabase/functions/status/status.ts";
import { call } from "./api.ts";
import { errorBox, h, show, tableOf } from "./dom.ts";
import { formatDate, formatNumber, t, type TextKey } from "./i18n.ts";

function summary(report: StatusReport): HTMLElement {
  return h(
    "p",
    { role: "status", class: report.status === "ok" ? "success" : "error" },
    report.status === "ok" ? t("status.ok") : t("status.degraded", { count: report.problems.length }),
    " ",
    h("small", {}, t("status.checked_at", { time: formatDate(report.checked_at) })),
  );
}

function problems(report: StatusReport): HTMLElement | null {
  if (report.problems.length === 0) return null;
  return h(
    "section",
    {},
    h("h2", {}, t("status.problems")),
    h(
      "ul",
      {},
      ...report.problems.map((problem) =>
        h(
          "li",
          {},
          t(`status.problem.${problem.code}` as TextKey),
          " ",
          h("small", { lang: "en" }, problem.message),
        )
      ),
    ),
  );
}

function basics(report: StatusReport): HTMLElement {
  const { database, build, configuration } = report;
  return h(
    "section",
    {},
    h("h2", {}, t("status.database")),
    h(
      "p",
      {},
      database.reachable
        ? t("status.reachable", { ms: database.latency_ms ?? "—" })
        : t("status.unreachable"),
    ),
    h(
      "p",
      {},
      t("status.build", {
        source: build.source,
        expected: build.migration_expected,
        applied: build.migration_applied ?? "—",
      }),
    ),
    h(
      "p",
      {},
      `${t("status.email_provider")}: ${t(`status.provider.${configuration.email_provider}` as TextKey)}`,
    ),
  );
}

function jobs(report: StatusReport): HTMLElement {
  return h(
    "section",
    {},
    h("h2", {}, t("status.jobs")),
    report.scheduler === "outside" ? h("p", {}, t("status.scheduler_outside")) : tableOf(
      [t("status.job.name"), t("status.job.state"), t("status.job.last_run"), t("status.job.message")],
      h(
        "tbody",
        {},
        ...report.jobs.map((job) =>
          h(
            "tr",
            {},
            h("td", {}, h("code", {}, job.name)),
            h("td", {}, t(`status.job_state.${job.state}` as TextKey)),
            h("td", {}, formatDate(job.last_started_at)),
            h("td", {}, job.last_message ?? "—"),
          )
        ),
      ),
    ),
  );
}

function queues(report: StatusReport): HTMLElement {
  const lines: string[] = [];
  if (report.emails) {
    lines.push(t("status.emails_queued", { count: report.emails.queued }));
    lines.push(t("status.emails_failed", { count: report.emails.failed_last_24h }));
  }
  if (report.webhooks) {
    lines.push(t("status.webhooks_pending", { count: report.webhooks.pending_deliveries }));
    lines.push(t("status.webhooks_paused", { count: report.webhooks.paused_endpoints }));
  }
  if (report.payment_reviews_waiting !== null) {
    lines.push(t("status.payments_waiting", { count: report.payment_reviews_waiting }));
  }
  return h(
    "section",
    {},
    h("h2", {}, t("status.queues")),
    h("ul", {}, ...lines.map((line) => h("li", {}, line))),
  );
}

function requests(report: StatusReport): HTMLElement {
  if (report.requests.length === 0) {
    return h("section", {}, h("h2", {}, t("status.requests")), h("p", {}, t("status.requests_none")));
  }
  return h(
    "section",
    {},
    h("h2", {}, t("status.requests")),
    tableOf(
      [
        t("status.function"),
        t("status.route"),
        t("status.count"),
        t("status.error_rate"),
        t("status.p50"),
        t("status.p95"),
      ],
      h(
        "tbody",
        {},
        ...report.requests.map((row) =>
          h(
            "tr",
            {},
            h("td", {}, row.function),
            h("td", {}, h("code", {}, row.route)),
            h("td", {}, formatNumber(row.requests)),
            h("td", {}, formatNumber(row.error_rate, "percent")),
            h("td", {}, row.p50_ms === null ? "> 10000" : `≤ ${row.p50_ms}`),
            h("td", {}, row.p95_ms === null ? "> 10000" : `≤ ${row.p95_ms}`),
          )
        ),
      ),
    ),
  );
}

export async function statusScreen(main: HTMLElement): Promise<void> {
  const body = h("div", { "aria-live": "polite" });
  const load = async () => {
    try {
      const report = await call<StatusReport>("status/report");
      show(
        body,
        summary(report),
        problems(report),
        basics(report),
        jobs(report),
        queues(report),
        requests(report),
      );
    } catch (error) {
      show(body, errorBox(error));
    }
  };
  const refresh = h("button", { type: "button" }, t("status.refresh"));
  refresh.addEventListener("click", () => void load());
  show(main, h("h1", {}, t("status.title")), refresh, body);
  await load();
}

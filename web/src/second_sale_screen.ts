/// <reference lib="dom" />
/**
 * The second sale: who to call now (the call list), the funnel from the tripwire to the main course for a
 * period, the managers ranked (admins), the weekly cohorts, and where students leave each lesson.
 */
import type { CallList } from "../../supabase/functions/second-sale/call_list.ts";
import type { Cohorts } from "../../supabase/functions/second-sale/cohorts.ts";
import type {
  ConversionFigures,
  ManagersConversion,
} from "../../supabase/functions/second-sale/conversion.ts";
import type { Retention, RetentionLessons } from "../../supabase/functions/second-sale/retention.ts";
import type { UnmatchedList } from "../../supabase/functions/payments/main_course.ts";
import { call, type SignedIn } from "./api.ts";
import { errorBox, h, show, tableOf } from "./dom.ts";
import { formatAgo, formatDate, formatDay, formatMoney, formatNumber, t, type TextKey } from "./i18n.ts";
import { formatPhone } from "./phone.ts";
import { retentionChart, videoTime } from "./retention_chart.ts";

const periods = ["30", "90", "all"] as const;
const percent = (share: number | null) => share === null ? "—" : formatNumber(share, "percent");

/** The academy day `days` before today (the server's today is the academy's; a day's slack is harmless here). */
function daysAgo(days: number): string {
  return new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
}

function callListSection(list: CallList): HTMLElement {
  if (list.students.length === 0) return h("p", {}, t("second.call_list.none"));
  return tableOf(
    [
      t("second.call_list.student"),
      t("second.call_list.score"),
      t("second.call_list.why"),
      t("second.call_list.contact"),
      t("second.call_list.link"),
    ],
    h(
      "tbody",
      {},
      list.students.map((student) =>
        h(
          "tr",
          { class: student.ready ? "ready" : null },
          h("td", {}, h("a", { href: `#/students/${student.student_id}` }, student.full_name)),
          h(
            "td",
            { class: "number" },
            String(student.score),
            student.ready ? h("span", { class: "badge" }, ` ${t("second.call_list.ready")}`) : null,
          ),
          h(
            "td",
            {},
            h(
              "ul",
              { class: "reasons" },
              student.reasons.map((reason) =>
                h("li", {}, t(`second.signal.${reason.signal}` as TextKey, { when: formatAgo(reason.at) }))
              ),
            ),
          ),
          h(
            "td",
            {},
            student.phone ? h("a", { href: `tel:${student.phone}` }, formatPhone(student.phone)) : null,
            student.phone ? h("br") : null,
            h("a", { href: `mailto:${student.email}` }, student.email),
          ),
          h(
            "td",
            {},
            student.upgrade
              ? h("input", {
                readOnly: true,
                value: student.upgrade.url,
                "aria-label": `${t("second.call_list.link")}: ${student.full_name}`,
                onfocus: (event: Event) => (event.target as HTMLInputElement).select(),
              })
              : "—",
          ),
        )
      ),
    ),
  );
}

function funnelSection(figures: ConversionFigures): HTMLElement {
  const steps = [
    ["sold", figures.sold, 1],
    ["started", figures.started, figures.rates.started],
    ["completed", figures.completed, figures.rates.completed],
    ["bought", figures.bought, figures.rates.bought],
  ] as const;
  const days = (value: number | null) =>
    value === null ? t("second.no_median") : t("second.days", { days: value });
  return h(
    "div",
    {},
    h(
      "ol",
      { class: "funnel" },
      steps.map(([step, count, rate]) =>
        h(
          "li",
          {},
          h("span", { class: "step" }, t(`second.step.${step}` as TextKey)),
          h("span", { class: "bar", style: `width: ${Math.max(2, (rate ?? 0) * 100)}%` }),
          h(
            "span",
            { class: "figure" },
            t("second.step.count", { count }),
            step === "sold" ? null : ` · ${percent(rate)}`,
          ),
        )
      ),
    ),
    h("h3", {}, t("second.revenue")),
    figures.revenue.length
      ? h(
        "ul",
        {},
        figures.revenue.map((money) =>
          h(
            "li",
            {},
            `${formatMoney(money.amount, money.currency)} · ${t("second.buyers", { count: money.buyers })}`,
          )
        ),
      )
      : h("p", {}, t("second.revenue.none")),
    h(
      "p",
      {},
      t("second.median", {
        from_sale: days(figures.median_days.from_sale),
        from_completion: days(figures.median_days.from_completion),
      }),
    ),
  );
}

function managersSection(ranking: ManagersConversion, user: SignedIn): HTMLElement {
  return tableOf(
    ["rank", "manager", "sold", "bought", "conversion", "revenue"].map((column) =>
      t(`second.col.${column}` as TextKey)
    ),
    h(
      "tbody",
      {},
      ranking.managers.map((manager) =>
        h(
          "tr",
          { class: manager.manager_id === user.id ? "me" : null },
          h("td", {}, manager.rank),
          h("td", {}, manager.full_name),
          h("td", { class: "number" }, manager.sold),
          h("td", { class: "number" }, manager.bought),
          h("td", { class: "number" }, percent(manager.conversion)),
          h(
            "td",
            { class: "number" },
            manager.revenue.map((money) => formatMoney(money.amount, money.currency)).join(", ") || "—",
          ),
        )
      ),
    ),
  );
}

function cohortsSection(cohorts: Cohorts): HTMLElement {
  // Weeks without a sale say nothing: only those with one, and as many weeks after as the oldest has had.
  const sold = cohorts.cohorts.filter((cohort) => cohort.sold > 0);
  if (sold.length === 0) return h("p", {}, t("second.cohorts.none"));
  const weeks = Math.max(...sold.map((cohort) => cohort.bought_by_week.length));
  return h(
    "div",
    { class: "scroll" },
    tableOf(
      [
        t("second.cohorts.week"),
        t("second.cohorts.sold"),
        ...Array.from({ length: weeks }, (_, k) => t("second.cohorts.k", { k })),
      ],
      h(
        "tbody",
        {},
        sold.map((cohort) =>
          h(
            "tr",
            {},
            h("td", {}, formatDay(cohort.week_start)),
            h("td", { class: "number" }, cohort.sold),
            Array.from(
              { length: weeks },
              (_, k) => h("td", { class: "number" }, percent(cohort.share_by_week[k] ?? null)),
            ),
          )
        ),
      ),
    ),
  );
}

/** An admin's list of main-course purchases no student matched: to find the person by the e-mail. */
function unmatchedSection(list: UnmatchedList): HTMLElement {
  if (list.purchases.length === 0) return h("p", {}, t("second.unmatched.none"));
  return tableOf(
    [t("second.unmatched.when"), t("second.unmatched.email"), t("second.unmatched.amount")],
    h(
      "tbody",
      {},
      list.purchases.map((purchase) =>
        h(
          "tr",
          {},
          h("td", {}, formatDate(purchase.purchased_at)),
          h("td", {}, purchase.buyer_email ?? "—"),
          h(
            "td",
            { class: "number" },
            formatMoney(purchase.amount, purchase.currency),
            purchase.refunded_at ? ` (${t("second.unmatched.refunded")})` : null,
          ),
        )
      ),
    ),
  );
}

async function retentionSection(): Promise<HTMLElement> {
  const { lessons } = await call<RetentionLessons>("second-sale/retention");
  const chart = h("div", { "aria-live": "polite" });
  const showLesson = async (lessonId: number) => {
    try {
      const retention = await call<Retention>(`second-sale/retention/${lessonId}`);
      const title = lessons.find((lesson) => lesson.lesson_id === lessonId)?.title ?? "";
      show(chart, retentionView(retention, title));
    } catch (error) {
      show(chart, errorBox(error));
    }
  };
  const select = h(
    "select",
    {
      name: "lesson",
      onchange: (event: Event) => void showLesson(Number((event.target as HTMLSelectElement).value)),
    },
    lessons.map((lesson) => h("option", { value: lesson.lesson_id }, lesson.title)),
  );
  if (lessons[0]) await showLesson(lessons[0].lesson_id);
  return h("div", {}, h("label", {}, t("second.retention.lesson"), " ", select), chart);
}

function retentionView(retention: Retention, title: string): HTMLElement {
  if (retention.all.starters === 0) return h("p", {}, t("second.retention.none"));
  return h(
    "div",
    {},
    retentionChart(
      retention,
      t("second.retention.summary", {
        title,
        starters: retention.all.starters,
        end: percent(retention.all.share.at(-1) ?? 0),
        bought: retention.bought.starters,
      }),
    ),
    h("h3", {}, t("second.retention.drops")),
    retention.drop_offs.length
      ? h(
        "ul",
        {},
        retention.drop_offs.map((drop) =>
          h(
            "li",
            {},
            t("second.retention.drop", {
              at: videoTime(drop.second),
              before: percent(drop.share_before),
              after: percent(drop.share_after),
            }),
          )
        ),
      )
      : h("p", {}, t("second.retention.no_drops")),
  );
}

export async function secondSaleScreen(main: HTMLElement, user: SignedIn): Promise<void> {
  show(main, t("common.loading"));
  const funnel = h("div", { "aria-live": "polite" });
  const managers = h("div", { "aria-live": "polite" });
  let period: (typeof periods)[number] = "30";
  let orderBy = "bought";
  const range = () => period === "all" ? "" : `from=${daysAgo(Number(period) - 1)}`;
  async function showFigures() {
    try {
      show(funnel, funnelSection(await call<ConversionFigures>(`second-sale/figures?${range()}`)));
      show(
        managers,
        managersSection(
          await call<ManagersConversion>(`second-sale/managers?${range()}&order_by=${orderBy}`),
          user,
        ),
      );
    } catch (error) {
      show(funnel, errorBox(error));
    }
  }
  const periodSelect = h(
    "select",
    {
      name: "period",
      onchange: (event: Event) => {
        period = (event.target as HTMLSelectElement).value as typeof period;
        void showFigures();
      },
    },
    periods.map((each) => h("option", { value: each }, t(`second.period.${each}` as TextKey))),
  );
  const orderSelect = h(
    "select",
    {
      name: "order_by",
      onchange: (event: Event) => {
        orderBy = (event.target as HTMLSelectElement).value;
        void showFigures();
      },
    },
    ["bought", "conversion", "revenue", "sold"].map((each) =>
      h("option", { value: each }, t(`second.order_by.${each}` as TextKey))
    ),
  );
  const [callList, cohorts, retention, unmatched] = await Promise.all([
    call<CallList>("second-sale/call-list?limit=20").then(callListSection, errorBox),
    call<Cohorts>("second-sale/cohorts?weeks=8").then(cohortsSection, errorBox),
    retentionSection().catch(errorBox),
    user.role === "admin"
      ? call<UnmatchedList>("payments/main-course/unmatched?limit=20").then(unmatchedSection, errorBox)
      : null,
  ]);
  await showFigures();
  show(
    main,
    h("h1", {}, t("second.title")),
    h("section", {}, h("h2", {}, t("second.call_list")), callList),
    h(
      "section",
      {},
      h("h2", {}, t("second.funnel")),
      h("label", {}, t("second.period"), " ", periodSelect),
      funnel,
    ),
    h(
      "section",
      {},
      h("h2", {}, t("second.managers")),
      h("label", {}, t("second.order_by"), " ", orderSelect),
      managers,
    ),
    h("section", {}, h("h2", {}, t("second.cohorts")), cohorts),
    h("section", {}, h("h2", {}, t("second.retention")), retention),
    unmatched ? h("section", {}, h("h2", {}, t("second.unmatched")), unmatched) : null,
  );
}

/// <reference lib="dom" />
/**
 * The sales managers' screens: a new student after a sale, their students (search, filters, paging),
 * one student (refund, suspend, reset password), and the leaderboard with their figures, the sales chart
 * and the activity feed.
 */
import type { CreatedStudent } from "../../supabase/functions/_domain/new_student.ts";
import type { OfferList } from "../../supabase/functions/payments/offers.ts";
import type {
  ActivityFeed,
  Leaderboard,
  ManagerStats,
  SalesChart,
} from "../../supabase/functions/leaderboard/leaderboard.ts";
import type { StudentSummary } from "../../supabase/functions/_domain/student_summary.ts";
import type { StudentDetail } from "../../supabase/functions/students/detail.ts";
import type { StudentList } from "../../supabase/functions/students/list.ts";
import type { PasswordReset } from "../../supabase/functions/students/password_reset.ts";
import { personalDataSection } from "./admin.ts";
import { call, download, type SignedIn } from "./api.ts";
import { askToConfirm, errorBox, h, handledForm, show, showFormError } from "./dom.ts";
import { formatDate, formatMoney, t, type TextKey } from "./i18n.ts";
import { paymentLinkSection, reviewsWaiting } from "./payments.ts";

/** An event of the feed (the leaderboard's and a student's part of it). */
type FeedEvent = Pick<ActivityFeed["events"][number], "event_type" | "created_at"> & { details: unknown };
const periods = ["day", "week", "month", "all"] as const;

/** A secret shown once, with a copy button. */
export function shownOnce(label: string, secret: string): HTMLElement {
  const copy = h("button", {
    type: "button",
    onclick: async () => {
      await navigator.clipboard?.writeText(secret).catch(() => {});
      copy.textContent = t("common.copied");
    },
  }, t("common.copy"));
  return h("p", { class: "secret" }, label, " ", h("code", { class: "password" }, secret), " ", copy);
}

export function newStudentScreen(main: HTMLElement): void {
  const status = h("div", { "aria-live": "polite" });
  // What is sold: the academy's offers, the amount following the one picked (another needs a reason).
  const amount = h("input", { name: "payment_amount", inputMode: "decimal", value: "490", required: true });
  const paymentLabel = h("span", {}, t("new_student.payment"));
  const offerSelect = h("select", { name: "offer_id" });
  const offerField = h("label", { hidden: true }, t("new_student.offer"), offerSelect);
  void call<OfferList>("payments/offers").then((list) => {
    const prices = new Map(
      list.offers.filter((offer) => offer.price).map((offer) => [offer.id, offer.price!]),
    );
    offerSelect.replaceChildren(
      ...list.offers.filter((offer) => offer.price).map((offer) =>
        h("option", { value: offer.id }, `${offer.title} — ${formatMoney(offer.price!, list.currency)}`)
      ),
    );
    if (list.default_offer_id) offerSelect.value = list.default_offer_id;
    const follow = () => amount.value = prices.get(offerSelect.value) ?? amount.value;
    offerSelect.addEventListener("change", follow);
    follow();
    paymentLabel.textContent = `${t("new_student.payment")}, ${list.currency}`;
    offerField.hidden = prices.size === 0;
  }).catch(() => {});
  // One key per filled-in form: a retried submit cannot create the student twice.
  const idempotencyKey = crypto.randomUUID();
  const form = handledForm(
    { class: "card narrow" },
    async (data) => {
      show(status, t("common.loading"));
      try {
        const created = await call<CreatedStudent>("create-tripwire-user", {
          headers: { "Idempotency-Key": idempotencyKey },
          body: {
            email: String(data.get("email")),
            full_name: String(data.get("full_name")),
            phone: String(data.get("phone") || "") || undefined,
            payment_amount: String(data.get("payment_amount") || "0"),
            ...(data.get("offer_id") ? { offer_id: String(data.get("offer_id")) } : {}),
            ...(data.get("price_reason") ? { price_reason: String(data.get("price_reason")) } : {}),
            send_welcome_email: data.get("send_welcome_email") === "on",
          },
        });
        show(
          status,
          h("p", { class: "success" }, t("new_student.created", { name: created.full_name })),
          created.welcome_email === "not_configured"
            ? h("p", { role: "alert" }, t("new_student.email_not_configured"))
            : null,
          created.password ? shownOnce(t("new_student.password"), created.password) : null,
          h("a", { href: `#/students/${created.id}` }, t("new_student.open")),
        );
      } catch (error) {
        showFormError(form, status, error);
      }
    },
    h("h1", {}, t("new_student.title")),
    h("label", {}, t("sign_in.email"), h("input", { name: "email", type: "email", required: true })),
    h(
      "label",
      {},
      t("new_student.full_name"),
      h("input", { name: "full_name", required: true, maxLength: 200 }),
    ),
    h(
      "label",
      {},
      t("new_student.phone"),
      h("input", { name: "phone", type: "tel", placeholder: "+77011234567" }),
    ),
    offerField,
    h("label", {}, paymentLabel, amount),
    h("label", {}, t("new_student.price_reason"), h("input", { name: "price_reason", maxLength: 300 })),
    h(
      "label",
      { class: "check" },
      h("input", { name: "send_welcome_email", type: "checkbox", checked: true }),
      t("new_student.send_email"),
    ),
    h("button", { type: "submit" }, t("new_student.submit")),
    status,
  );
  show(main, form, paymentLinkSection());
}

function studentRow(student: StudentSummary): HTMLElement {
  return h(
    "tr",
    {},
    h("td", {}, h("a", { href: `#/students/${student.id}` }, student.full_name)),
    h("td", {}, student.email),
    h("td", {}, t(`status.${student.status}`)),
    h("td", {}, t(`stage.${student.stage}`)),
    h(
      "td",
      { class: "number" },
      formatMoney(student.payment_amount - student.refunded_amount, student.currency),
    ),
    h("td", { class: "number" }, `${student.modules_completed}/${student.total_modules}`),
    h("td", {}, formatDate(student.last_activity_at)),
  );
}

/** A button that downloads a file, saying why in `message` when it cannot. */
function exportButton(label: string, save: () => Promise<void>, message: HTMLElement): HTMLElement {
  return h("button", {
    type: "button",
    onclick: async () => {
      try {
        await save();
      } catch (error) {
        show(message, errorBox(error));
      }
    },
  }, label);
}

export async function studentsScreen(main: HTMLElement, user: SignedIn): Promise<void> {
  // An admin's home says first how many paid orders wait for review.
  const waiting = h("div", {});
  if (user.role === "admin") void reviewsWaiting().then((notice) => show(waiting, notice));
  const search = h("input", {
    type: "search",
    name: "q",
    "aria-label": t("students.search"),
    placeholder: t("students.search"),
  });
  const select = (name: string, label: string, values: string[], prefix: string) =>
    h(
      "select",
      { name, "aria-label": label },
      h("option", { value: "" }, `${label}: ${t("students.any")}`),
      values.map((value) => h("option", { value }, t(`${prefix}.${value}` as TextKey))),
    );
  const status = select(
    "status",
    t("students.status"),
    ["active", "completed", "suspended", "refunded"],
    "status",
  );
  const stage = select("stage", t("students.stage"), ["not_started", "in_progress", "completed"], "stage");
  // Who stalled: the longest without watching or completing first, or only those idle for a week.
  const sort = h(
    "select",
    { name: "sort", "aria-label": t("students.sort") },
    (["newest", "idle_longest", "recently_active"] as const).map((value) =>
      h("option", { value }, t(`students.sort.${value}`))
    ),
  );
  const idle = h("label", {}, h("input", { type: "checkbox", name: "idle_week" }), t("students.idle_week"));
  const idleWeek = idle.querySelector("input")!;
  const rows = h("tbody");
  const more = h("button", { type: "button", hidden: true }, t("common.load_more"));
  const message = h("div", { "aria-live": "polite" });
  let cursor: string | null = null;

  // The filters as the list and its CSV export both take them.
  function filters(): URLSearchParams {
    const query = new URLSearchParams();
    if (search.value.trim()) query.set("q", search.value.trim());
    if (status.value) query.set("status", status.value);
    if (stage.value) query.set("stage", stage.value);
    if (sort.value !== "newest") query.set("sort", sort.value);
    if (idleWeek.checked) query.set("inactive_since", new Date(Date.now() - 7 * 86_400_000).toISOString());
    return query;
  }
  async function load(append: boolean) {
    const query = filters();
    query.set("limit", "20");
    if (append && cursor) query.set("after", cursor);
    try {
      const page = await call<StudentList>(`students?${query}`);
      if (!append) rows.replaceChildren();
      rows.append(...page.students.map(studentRow));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      show(message, rows.children.length === 0 ? t("common.none") : null);
    } catch (error) {
      show(message, errorBox(error));
    }
  }
  let typing: ReturnType<typeof setTimeout> | undefined;
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => void load(false), 300);
  });
  status.addEventListener("change", () => void load(false));
  stage.addEventListener("change", () => void load(false));
  sort.addEventListener("change", () => void load(false));
  idleWeek.addEventListener("change", () => void load(false));
  more.addEventListener("click", () => void load(true));
  show(
    main,
    h("h1", {}, t("students.title")),
    waiting,
    h("div", { class: "row" }, search, status, stage, sort, idle),
    h(
      "div",
      { class: "row" },
      exportButton(
        t("students.export"),
        () => download(`students/export.csv?${filters()}`, "students.csv"),
        message,
      ),
      exportButton(t("students.export_sales"), () => download("students/sales.csv", "sales.csv"), message),
    ),
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          (["name", "email", "status", "stage", "paid", "progress", "last_activity"] as const).map((column) =>
            h("th", { scope: "col" }, t(`students.${column}`))
          ),
        ),
      ),
      rows,
    ),
    message,
    more,
  );
  await load(false);
}

function feedText(event: FeedEvent, currency: string): string {
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

function feedItem(event: FeedEvent, currency: string): HTMLElement {
  return h(
    "li",
    {},
    h("time", { dateTime: event.created_at }, formatDate(event.created_at)),
    " ",
    feedText(event, currency),
  );
}

/** A form with a reason (and an amount for a refund) that posts one action, then reloads the screen. */
function actionForm(
  label: string,
  path: string,
  options: {
    amount?: number;
    idempotent?: boolean;
    after: (answer: unknown) => void;
    /** The question asked before it is done (what it does, to whom), with its confirming button. */
    confirm?: { question: (amount: number) => string; yes: string };
  },
): HTMLElement {
  const status = h("div", { "aria-live": "polite" });
  const key = crypto.randomUUID();
  const form = handledForm(
    { class: "action" },
    async (data) => {
      const body: Record<string, unknown> = { reason: String(data.get("reason")) };
      if (options.amount !== undefined) body.amount = Number(data.get("amount"));
      const { confirm } = options;
      if (
        confirm &&
        !await askToConfirm(
          status,
          confirm.question(Number(body.amount ?? 0)),
          confirm.yes,
          t("confirm.cancel"),
        )
      ) {
        return;
      }
      try {
        options.after(
          await call(path, { body, headers: options.idempotent ? { "Idempotency-Key": key } : undefined }),
        );
      } catch (error) {
        showFormError(form, status, error);
      }
    },
    options.amount !== undefined
      ? h(
        "label",
        {},
        t("detail.amount"),
        h("input", { name: "amount", type: "number", min: 0.01, step: "0.01", value: options.amount }),
      )
      : null,
    h("label", {}, t("detail.reason"), h("input", { name: "reason", required: true, maxLength: 500 })),
    h("button", { type: "submit" }, label),
    status,
  );
  return form;
}

export async function studentDetailScreen(main: HTMLElement, id: string, user: SignedIn): Promise<void> {
  show(main, t("common.loading"));
  const student = await call<StudentDetail>(`students/${encodeURIComponent(id)}`);
  const reload = () => void studentDetailScreen(main, id, user).catch((error) => show(main, errorBox(error)));
  const secret = h("div", { "aria-live": "polite" });
  const left = student.payment_amount - student.refunded_amount;
  show(
    main,
    h("a", { href: "#/students" }, `← ${t("nav.students")}`),
    h("h1", {}, student.full_name),
    h(
      "p",
      {},
      `${student.email} · ${student.phone ?? "—"} · ${t(`status.${student.status}`)} · ${
        t(`stage.${student.stage}`)
      } · `,
      `${formatMoney(student.payment_amount, student.currency)}`,
      student.certificate_number ? ` · ${student.certificate_number}` : null,
    ),
    h("h2", {}, t("detail.lessons")),
    h(
      "ul",
      {},
      student.lessons.map((lesson) =>
        h(
          "li",
          {},
          `${lesson.title}: ${t(`lesson.${lesson.status}`)}, ${Math.round(lesson.watch_percentage)}%`,
        )
      ),
    ),
    h("h2", {}, t("detail.refunds")),
    student.refunds.length
      ? h(
        "ul",
        {},
        student.refunds.map((refund) =>
          h(
            "li",
            {},
            `${formatDate(refund.created_at)} · ${
              formatMoney(refund.amount, student.currency)
            } · ${refund.reason}`,
          )
        ),
      )
      : h("p", {}, t("common.none")),
    h(
      "div",
      { class: "actions" },
      left > 0
        ? actionForm(t("detail.refund"), `students/${id}/refund`, {
          amount: left,
          idempotent: true,
          after: reload,
          confirm: {
            question: (amount) =>
              t("confirm.refund", { amount: formatMoney(amount, student.currency), name: student.full_name }),
            yes: t("confirm.refund_yes"),
          },
        })
        : null,
      student.status === "suspended"
        ? actionForm(t("detail.reactivate"), `students/${id}/reactivate`, { after: reload })
        : student.status === "active"
        ? actionForm(t("detail.suspend"), `students/${id}/suspend`, {
          after: reload,
          confirm: {
            question: () => t("confirm.suspend", { name: student.full_name }),
            yes: t("confirm.suspend_yes"),
          },
        })
        : null,
      h(
        "div",
        {},
        h("button", {
          type: "button",
          onclick: async () => {
            const question = t("confirm.reset_password", { name: student.full_name });
            if (!await askToConfirm(secret, question, t("confirm.reset_password_yes"), t("confirm.cancel"))) {
              return;
            }
            try {
              const reset = await call<PasswordReset>(`students/${id}/reset-password`, { body: {} });
              show(secret, shownOnce(t("detail.new_password"), reset.password));
            } catch (error) {
              show(secret, errorBox(error));
            }
          },
        }, t("detail.reset_password")),
        secret,
      ),
    ),
    h("h2", {}, t("detail.activity")),
    h("ul", { class: "feed" }, student.activity.map((event) => feedItem(event, student.currency))),
    user.role === "admin" ? personalDataSection(id) : null,
  );
}

/** Appends an SVG element with its attributes (and text). */
function svgElement(
  parent: Element,
  tag: string,
  attributes: Record<string, string | number>,
  text?: string,
) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  parent.append(element);
  return element;
}

/**
 * The sales of the last days as bars with their axes (revenue up the left, days along the bottom, the best
 * day's value on its bar), a one-sentence summary for screen readers, and the same figures as a table.
 */
function salesChart(chart: SalesChart): HTMLElement {
  const left = 70;
  const top = 18;
  const width = 600;
  const height = 160;
  const max = Math.max(1, ...chart.days.map((day) => day.revenue));
  const total = chart.days.reduce((sum, day) => sum + day.revenue, 0);
  const best = chart.days.reduce((top, day) => day.revenue > top.revenue ? day : top, chart.days[0]);
  const barWidth = (width - left) / chart.days.length;
  const summary = t("board.chart_summary", {
    from: chart.from,
    to: chart.to,
    total: formatMoney(total, chart.currency),
    day: best?.day ?? "",
    best: formatMoney(best?.revenue ?? 0, chart.currency),
  });
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${top + height + 24}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", summary);
  svg.classList.add("chart");
  // The axes: revenue from 0 to the best day, the first and last day.
  const bottom = top + height;
  svgElement(svg, "line", { x1: left, y1: top, x2: left, y2: bottom, class: "axis" });
  svgElement(svg, "line", { x1: left, y1: bottom, x2: width, y2: bottom, class: "axis" });
  svgElement(
    svg,
    "text",
    { x: left - 6, y: top + 4, "text-anchor": "end" },
    formatMoney(max, chart.currency),
  );
  svgElement(svg, "text", { x: left - 6, y: bottom, "text-anchor": "end" }, "0");
  chart.days.forEach((day, index) => {
    const barHeight = (day.revenue / max) * height;
    const x = left + index * barWidth + 1;
    const bar = svgElement(svg, "rect", {
      x,
      y: bottom - barHeight,
      width: Math.max(1, barWidth - 2),
      height: barHeight,
    });
    svgElement(bar, "title", {}, `${day.day}: ${formatMoney(day.revenue, chart.currency)}`);
    if (day === best && day.revenue > 0) {
      // The best day's value above its bar, kept inside the chart at either end.
      const nearEnd = x + barWidth / 2 > width - 40;
      svgElement(
        svg,
        "text",
        {
          x: nearEnd ? x + barWidth - 2 : x + barWidth / 2,
          y: bottom - barHeight - 4,
          "text-anchor": nearEnd ? "end" : "middle",
        },
        formatMoney(day.revenue, chart.currency),
      );
    }
  });
  svgElement(svg, "text", { x: left, y: bottom + 18, "text-anchor": "start" }, chart.days[0]?.day ?? "");
  svgElement(svg, "text", { x: width, y: bottom + 18, "text-anchor": "end" }, chart.days.at(-1)?.day ?? "");
  return h(
    "figure",
    { class: "chart-figure" },
    svg,
    h("figcaption", {}, summary),
    h(
      "details",
      {},
      h("summary", {}, t("board.chart_table")),
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, t("board.day")),
            h("th", { scope: "col" }, t("board.revenue")),
          ),
        ),
        h(
          "tbody",
          {},
          chart.days.map((day) =>
            h(
              "tr",
              {},
              h("td", {}, day.day),
              h("td", { class: "number" }, formatMoney(day.revenue, chart.currency)),
            )
          ),
        ),
      ),
    ),
  );
}

export async function leaderboardScreen(main: HTMLElement, user: SignedIn): Promise<void> {
  show(main, t("common.loading"));
  const board = h("div");
  const mine = h("div");
  const feed = h("ul", { class: "feed" });
  const more = h("button", { type: "button", hidden: true }, t("common.load_more"));
  let period: (typeof periods)[number] = "month";
  let before: string | null = null;

  const stats = await call<ManagerStats>("leaderboard/stats").catch((error) => error as Error);
  async function showPeriod() {
    try {
      const leaderboard = await call<Leaderboard>(`leaderboard?period=${period}`);
      show(
        board,
        h(
          "table",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, t("board.rank")),
              h("th", { scope: "col" }, t("board.manager")),
              h("th", { scope: "col" }, t("board.revenue")),
              h("th", { scope: "col" }, t("board.students")),
              h("th", { scope: "col", title: t("board.active.hint") }, t("board.active")),
              h("th", { scope: "col", title: t("board.learning.hint") }, t("board.learning")),
              h("th", { scope: "col" }, t("board.certificates")),
            ),
          ),
          h(
            "tbody",
            {},
            leaderboard.managers.map((manager) =>
              h(
                "tr",
                { class: manager.manager_id === user.id ? "me" : null },
                h("td", {}, manager.rank),
                h("td", {}, manager.full_name),
                h("td", { class: "number" }, formatMoney(manager.revenue, leaderboard.currency)),
                h("td", { class: "number" }, manager.students_created),
                h("td", { class: "number" }, manager.students_active),
                h("td", { class: "number" }, manager.students_learning),
                h("td", { class: "number" }, manager.certificates_issued),
              )
            ),
          ),
        ),
        h("p", { class: "muted" }, t("board.refreshed", { time: formatDate(leaderboard.refreshed_at) })),
      );
      if (stats instanceof Error) return show(mine, errorBox(stats));
      const figures = stats.periods?.[period];
      show(
        mine,
        figures
          ? h(
            "p",
            {},
            figures.rank
              ? t("board.my_rank", { rank: figures.rank, of: figures.managers_ranked })
              : t("board.no_rank"),
            ` · ${t("board.revenue")}: ${formatMoney(figures.revenue, stats.currency)} · ${
              t("board.students")
            }: ${figures.students_created} · ${t("board.active")}: ${figures.students_active} · ${
              t("board.learning")
            }: ${figures.students_learning}`,
          )
          : h("p", {}, t("board.no_rank")),
      );
    } catch (error) {
      show(board, errorBox(error));
    }
  }
  async function loadFeed() {
    try {
      const page = await call<ActivityFeed>(
        `leaderboard/activity?limit=20${before ? `&before=${before}` : ""}`,
      );
      feed.append(...page.events.map((event) => feedItem(event, page.currency)));
      before = page.next_cursor;
      more.hidden = !before;
    } catch (error) {
      feed.append(h("li", {}, errorBox(error)));
    }
  }
  more.addEventListener("click", () => void loadFeed());
  const switcher = h(
    "div",
    { role: "group", class: "periods" },
    periods.map((each) =>
      h("button", {
        type: "button",
        "aria-pressed": String(each === period),
        onclick: (event: Event) => {
          period = each;
          for (const button of switcher.querySelectorAll("button")) {
            button.setAttribute("aria-pressed", "false");
          }
          (event.currentTarget as HTMLElement).setAttribute("aria-pressed", "true");
          void showPeriod();
        },
      }, t(`board.period.${each}` as TextKey))
    ),
  );
  // Without from and to, the server answers the academy's last 30 days, ending on its today.
  const chart = await call<SalesChart>("leaderboard/chart").then(salesChart, errorBox);
  show(
    main,
    h("h1", {}, t("board.title")),
    switcher,
    h("h2", {}, t("board.my_stats")),
    mine,
    board,
    h("h2", {}, t("board.chart")),
    chart,
    h("h2", {}, t("board.feed")),
    feed,
    more,
  );
  await Promise.all([showPeriod(), loadFeed()]);
}

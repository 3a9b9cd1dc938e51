/// <reference lib="dom" />
/** A manager's students: search, filters, paging, and the exports. */

import type { CallList } from "../../supabase/functions/second-sale/call_list.ts";
import type { StudentSummary } from "../../supabase/functions/_domain/student_summary.ts";

import type { StudentList } from "../../supabase/functions/students/list.ts";

import { call, download, type SignedIn } from "./api.ts";
import { errorBox, h, show } from "./dom.ts";
import { formatAgo, formatDate, formatMoney, t, type TextKey } from "./i18n.ts";
import { reviewsWaiting } from "./payments.ts";

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
    h(
      "td",
      {},
      student.last_activity_at
        ? h(
          "time",
          { dateTime: student.last_activity_at, title: formatDate(student.last_activity_at) },
          formatAgo(student.last_activity_at),
        )
        : t("students.never_active"),
    ),
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

/** "2 students are ready for a call", leading to the call list; nothing when nobody is. */
async function readyToCall(): Promise<HTMLElement | null> {
  const list = await call<CallList>("second-sale/call-list?limit=100").catch(() => null);
  const ready = list?.students.filter((student) => student.ready).length ?? 0;
  if (ready === 0) return null;
  return h(
    "p",
    { class: "notice", role: "status" },
    t("second.ready_notice", { count: ready }),
    " ",
    h("a", { href: "#/second-sale" }, t("second.open_call_list")),
  );
}

export async function studentsScreen(main: HTMLElement, user: SignedIn): Promise<void> {
  // An admin's home says first how many paid orders wait for review.
  const waiting = h("div", {});
  if (user.role === "admin") void reviewsWaiting().then((notice) => show(waiting, notice));
  // A manager's home says first who is ready for a call about the main course.
  if (user.role === "manager") void readyToCall().then((notice) => show(waiting, notice));
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
  const table = h(
    "table",
    { hidden: true },
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
  );
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
    // Loading says so: an empty table while the first page comes would read as "no students".
    if (!append) show(message, h("p", { role: "status" }, t("common.loading")));
    table.setAttribute("aria-busy", "true");
    try {
      const page = await call<StudentList>(`students?${query}`);
      if (!append) rows.replaceChildren();
      rows.append(...page.students.map(studentRow));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      show(message, rows.children.length === 0 ? h("p", {}, t("students.none_found")) : null);
      table.hidden = rows.children.length === 0;
    } catch (error) {
      show(message, errorBox(error));
    } finally {
      table.removeAttribute("aria-busy");
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
    message,
    table,
    more,
  );
  await load(false);
}

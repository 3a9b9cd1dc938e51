/// <reference lib="dom" />
/** The leaderboard with the manager's figures, the sales chart and the activity feed. */

import type {
  ActivityFeed,
  Leaderboard,
  ManagerStats,
  SalesChart,
} from "../../supabase/functions/leaderboard/leaderboard.ts";

import { call, type SignedIn } from "./api.ts";
import { errorBox, h, show } from "./dom.ts";
import { formatDate, formatMoney, t, type TextKey } from "./i18n.ts";

import { feedItem } from "./feed.ts";
import { salesChart } from "./sales_chart.ts";

const periods = ["day", "week", "month", "all"] as const;

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
    h("p", {}, h("a", { href: "#/second-sale" }, t("second.board_link"))),
    h("h2", {}, t("board.chart")),
    chart,
    h("h2", {}, t("board.feed")),
    feed,
    more,
  );
  await Promise.all([showPeriod(), loadFeed()]);
}

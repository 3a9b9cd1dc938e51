/// <reference lib="dom" />
/**
 * Money at the door, on screen: the admin's Payments screen (what the academy sells and for how much, the paid
 * orders waiting for review with what to do about each, the reconciliation with the providers), the count of
 * waiting orders on an admin's home, and a manager's payment link — the only thing that credits a manager
 * with an order paid online.
 */
import type { OfferList } from "../../supabase/functions/payments/offers.ts";
import type { PaymentLink } from "../../supabase/functions/payments/payment_links.ts";
import type { Reconciliation } from "../../supabase/functions/payments/reconciliation.ts";
import type { Review, ReviewList } from "../../supabase/functions/payments/reviews.ts";
import { call, download } from "./api.ts";
import { errorBox, h, handledForm, show, showFormError } from "./dom.ts";
import { formatDate, formatMoney, t, type TextKey } from "./i18n.ts";

/** On an admin's home: how many paid orders wait, with the way to them; nothing when none does. */
export async function reviewsWaiting(): Promise<HTMLElement | null> {
  const queue = await call<ReviewList>("payments/reviews?limit=1").catch(() => null);
  if (!queue || queue.open === 0) return null;
  return h(
    "p",
    { class: "notice", role: "status" },
    t("payments.waiting", { count: String(queue.open) }),
    " ",
    h("a", { href: "#/payments" }, t("payments.open")),
  );
}

/** A manager's payment link: the signed reference to give the checkout, and what it sells. */
export function paymentLinkSection(): HTMLElement {
  const result = h("div", { "aria-live": "polite" });
  return h(
    "section",
    { class: "card narrow" },
    h("h2", {}, t("payments.link.title")),
    h("p", {}, t("payments.link.explain")),
    h("button", {
      type: "button",
      onclick: async () => {
        try {
          const link = await call<PaymentLink>("payments/links", { body: {} });
          show(
            result,
            h(
              "p",
              {},
              t("payments.link.for", {
                offer: link.offer.title,
                price: formatMoney(link.offer.price, link.offer.currency),
                until: formatDate(link.expires_at),
              }),
            ),
            h("p", {}, h("code", { class: "wrap reference" }, link.reference)),
          );
        } catch (error) {
          show(result, errorBox(error));
        }
      },
    }, t("payments.link.make")),
    result,
  );
}

const reasonKey = (review: Review) => `payments.reason.${review.reason}` as TextKey;

/** What an admin can do with an entry: an order can become or join a student; CloudPayments can refund. */
function actionsFor(review: Review): string[] {
  if (review.kind === "refund") return ["refunded", "dismiss"];
  return [
    "create_student",
    "attach",
    ...(review.provider === "cloudpayments" ? ["refund"] : []),
    "refunded",
    "dismiss",
  ];
}

/** One waiting order and what the admin can do with it: make the student (a corrected e-mail), or close it. */
function reviewRow(review: Review, reload: () => Promise<void>): HTMLElement {
  const status = h("div", { "aria-live": "polite" });
  const details = review.details as { email?: string; full_name?: string; problem?: string };
  const form = handledForm(
    { class: "inline" },
    async (data) => {
      const action = String(data.get("action"));
      const note = String(data.get("note") || "").trim();
      try {
        const withNote = note ? { note } : {};
        await call(`payments/reviews/${review.id}/resolve`, {
          body: action === "create_student"
            ? { action, email: String(data.get("email") || details.email || ""), ...withNote }
            : action === "attach"
            ? { action, student_id: String(data.get("student_id") || "").trim(), ...withNote }
            : action === "refund"
            ? { action, ...withNote }
            : { action, note },
        });
        await reload();
      } catch (error) {
        showFormError(form, status, error);
      }
    },
    h(
      "label",
      {},
      t("payments.action"),
      h(
        "select",
        { name: "action" },
        actionsFor(review).map(
          (action) => h("option", { value: action }, t(`payments.action.${action}` as TextKey)),
        ),
      ),
    ),
    review.kind === "order"
      ? h(
        "label",
        {},
        t("sign_in.email"),
        h("input", { name: "email", type: "email", value: details.email ?? "" }),
      )
      : null,
    review.kind === "order"
      ? h("label", {}, t("payments.student_id"), h("input", { name: "student_id", maxLength: 36 }))
      : null,
    h("label", {}, t("payments.note"), h("input", { name: "note", maxLength: 500 })),
    h("button", { type: "submit" }, t("payments.resolve")),
    status,
  );
  return h(
    "tr",
    {},
    h("td", {}, h("time", { dateTime: review.created_at }, formatDate(review.created_at))),
    h("td", {}, `${review.provider} · ${review.order_id}`),
    h("td", {}, t(reasonKey(review)), details.problem ? h("br") : null, details.problem ?? ""),
    h(
      "td",
      { class: "number" },
      review.currency ? formatMoney(review.amount, review.currency) : review.amount,
    ),
    h("td", { class: "wrap" }, details.full_name ?? "", details.email ? ` <${details.email}>` : ""),
    h("td", {}, form),
  );
}

type Offer = OfferList["offers"][number];

/**
 * An offer's row: its price now; its list price and whether it is on sale; its promotions, each removable, and
 * a new one (a price for a window). Each change puts the whole offer back, which the API audits.
 */
function offerRow(
  offer: Offer,
  currency: string,
  reload: () => Promise<void>,
  status: HTMLElement,
): HTMLElement {
  const save = async (
    form: HTMLFormElement,
    change: Partial<Pick<Offer, "list_price" | "active" | "promotions">>,
  ) => {
    try {
      await call(`payments/offers/${offer.id}`, {
        method: "PUT",
        body: {
          title: offer.title,
          list_price: change.list_price ?? offer.list_price,
          active: change.active ?? offer.active,
          promotions: (change.promotions ?? offer.promotions).map(({ price, starts_at, ends_at }) => ({
            price,
            starts_at,
            ends_at,
          })),
        },
      });
      await reload();
    } catch (error) {
      showFormError(form, status, error);
    }
  };
  const priceForm: HTMLFormElement = handledForm(
    { class: "inline" },
    (data) =>
      save(priceForm, { list_price: String(data.get("list_price")), active: data.get("active") === "on" }),
    h(
      "label",
      {},
      t("payments.list_price", { currency }),
      h("input", { name: "list_price", inputMode: "decimal", value: offer.list_price, required: true }),
    ),
    h(
      "label",
      { class: "check" },
      h("input", { name: "active", type: "checkbox", checked: offer.active }),
      t("payments.on_sale"),
    ),
    h("button", { type: "submit" }, t("payments.save")),
  );
  const promotionForm: HTMLFormElement = handledForm(
    { class: "inline" },
    (data) =>
      save(promotionForm, {
        promotions: [...offer.promotions, {
          price: String(data.get("price")),
          starts_at: new Date(String(data.get("starts_at"))).toISOString(),
          ends_at: new Date(String(data.get("ends_at"))).toISOString(),
        }],
      }),
    h(
      "label",
      {},
      t("payments.promotion_price", { currency }),
      h("input", { name: "price", inputMode: "decimal", required: true }),
    ),
    h(
      "label",
      {},
      t("payments.from"),
      h("input", { name: "starts_at", type: "datetime-local", required: true }),
    ),
    h(
      "label",
      {},
      t("payments.until"),
      h("input", { name: "ends_at", type: "datetime-local", required: true }),
    ),
    h("button", { type: "submit" }, t("payments.add_promotion")),
  );
  const promotions = h(
    "ul",
    {},
    offer.promotions.map((promotion, index) =>
      h(
        "li",
        {},
        `${formatMoney(promotion.price, currency)} · ${formatDate(promotion.starts_at)} – ${
          formatDate(promotion.ends_at)
        } `,
        h("button", {
          type: "button",
          class: "link",
          onclick: () =>
            save(promotionForm, { promotions: offer.promotions.filter((_, other) => other !== index) }),
        }, t("payments.remove")),
      )
    ),
  );
  return h(
    "tr",
    {},
    h("td", {}, offer.title, " ", h("code", {}, offer.id)),
    h("td", { class: "number" }, offer.price ? formatMoney(offer.price, currency) : t("payments.inactive")),
    h("td", {}, priceForm, promotions, promotionForm),
  );
}

const tableOf = (headers: TextKey[], body: HTMLElement) =>
  h("table", {}, h("thead", {}, h("tr", {}, headers.map((key) => h("th", { scope: "col" }, t(key))))), body);

/** The admin's Payments screen: offers and prices, the review queue, the reconciliation. */
export async function paymentsScreen(main: HTMLElement): Promise<void> {
  const offers = h("tbody", {});
  const reviews = h("tbody", {});
  const books = h("div", {});
  const status = h("div", { "aria-live": "polite" });
  const reload = async () => {
    try {
      const [list, queue, report] = await Promise.all([
        call<OfferList>("payments/offers"),
        call<ReviewList>("payments/reviews?limit=50"),
        call<Reconciliation>("payments/reconciliation"),
      ]);
      offers.replaceChildren(...list.offers.map((offer) => offerRow(offer, list.currency, reload, status)));
      reviews.replaceChildren(...queue.reviews.map((review) => reviewRow(review, reload)));
      show(
        books,
        h(
          "p",
          {},
          t("payments.books", { from: report.from, to: report.to, unexplained: String(report.unexplained) }),
        ),
        h("button", {
          type: "button",
          onclick: () =>
            download("payments/reconciliation.csv", "reconciliation.csv").catch((error) =>
              show(status, errorBox(error))
            ),
        }, t("payments.books_csv")),
      );
      show(status, queue.reviews.length === 0 ? h("p", {}, t("payments.none_waiting")) : null);
    } catch (error) {
      show(status, errorBox(error));
    }
  };
  show(
    main,
    h("h1", {}, t("payments.title")),
    h("h2", {}, t("payments.offers")),
    tableOf(["payments.offer", "payments.price_now", "payments.change"], offers),
    h("h2", {}, t("payments.queue")),
    h("p", {}, t("payments.queue_explain")),
    tableOf(
      [
        "audit.when",
        "payments.order",
        "payments.why",
        "payments.amount",
        "payments.payer",
        "payments.action",
      ],
      reviews,
    ),
    h("h2", {}, t("payments.reconciliation")),
    books,
    status,
  );
  await reload();
}

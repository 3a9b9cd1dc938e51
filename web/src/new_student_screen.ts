/// <reference lib="dom" />
/** A manager's sale: the new student's form, and the password shown once. */
import type { CreatedStudent } from "../../supabase/functions/_domain/new_student.ts";
import type { OfferList } from "../../supabase/functions/payments/offers.ts";

import { call } from "./api.ts";
import { h, handledForm, show, showFormError } from "./dom.ts";
import { formatMoney, t } from "./i18n.ts";
import { paymentLinkSection } from "./payments.ts";
import { phoneToE164 } from "./phone.ts";

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
      // The phone as typed, read here as the functions read it: a number no one could call is said at once.
      const typedPhone = String(data.get("phone") || "").trim();
      const phone = typedPhone ? phoneToE164(typedPhone) : undefined;
      if (phone === null) return showFormError(form, status, new Error(t("error.field.phone")), "phone");
      show(status, t("common.loading"));
      try {
        const created = await call<CreatedStudent>("create-tripwire-user", {
          headers: { "Idempotency-Key": idempotencyKey },
          body: {
            email: String(data.get("email")),
            full_name: String(data.get("full_name")),
            phone,
            // A decimal comma, as Russian writes it, and spaces between thousands are read as people mean them.
            payment_amount: String(data.get("payment_amount") || "0").replace(/\s/g, "").replace(",", "."),
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
      h("input", { name: "phone", type: "tel", autocomplete: "tel", placeholder: "8 701 123 45 67" }),
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

/// <reference lib="dom" />
/** One student: their course, refunds and feed, and what a manager does after the sale (refund, suspend, a new password). */

import type { StudentDetail } from "../../supabase/functions/students/detail.ts";

import type { PasswordReset } from "../../supabase/functions/students/password_reset.ts";
import { personalDataSection } from "./admin.ts";
import { call, type SignedIn } from "./api.ts";
import { askToConfirm, errorBox, h, handledForm, show, showFormError } from "./dom.ts";
import { formatDate, formatMoney, formatNumber, t } from "./i18n.ts";
import { formatPhone } from "./phone.ts";

import { feedItem } from "./feed.ts";

import { shownOnce } from "./new_student_screen.ts";

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
    /** The card's heading: what this action is about. */
    title: string;
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
    h("h3", {}, options.title),
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

/** Label–value pairs as a definition list: each fact says what it is. */
function facts(pairs: string[][]): HTMLElement {
  return h(
    "dl",
    { class: "facts" },
    pairs.flatMap(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]),
  );
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
    facts([
      [t("field.email"), student.email],
      [t("field.phone"), student.phone ? formatPhone(student.phone) : t("detail.no_phone")],
      [t("students.status"), t(`status.${student.status}`)],
      [t("students.stage"), t(`stage.${student.stage}`)],
      [t("students.paid"), formatMoney(student.payment_amount, student.currency)],
      ...(student.certificate_number ? [[t("detail.certificate"), student.certificate_number]] : []),
    ]),
    h("h2", {}, t("detail.lessons")),
    h(
      "ul",
      {},
      student.lessons.map((lesson) =>
        h(
          "li",
          {},
          `${lesson.title}: ${t(`lesson.${lesson.status}`)}, ${
            formatNumber(lesson.watch_percentage / 100, "percent")
          }`,
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
      : h("p", {}, t("detail.no_refunds")),
    h("h2", {}, t("detail.actions")),
    h(
      "div",
      { class: "actions" },
      left > 0
        ? actionForm(t("detail.refund"), `students/${id}/refund`, {
          title: t("detail.card.refund"),
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
        ? actionForm(t("detail.reactivate"), `students/${id}/reactivate`, {
          title: t("detail.card.access"),
          after: reload,
        })
        : student.status === "active"
        ? actionForm(t("detail.suspend"), `students/${id}/suspend`, {
          title: t("detail.card.access"),
          after: reload,
          confirm: {
            question: () => t("confirm.suspend", { name: student.full_name }),
            yes: t("confirm.suspend_yes"),
          },
        })
        : null,
      h(
        "div",
        { class: "action" },
        h("h3", {}, t("detail.card.password")),
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

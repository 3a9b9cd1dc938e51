/// <reference lib="dom" />
/**
 * The certificate's side of the student's screens: its public page (the link and QR code lead here), its PDF,
 * and the offer of the main course that follows it.
 */
import type { CertificateCheck } from "../../supabase/functions/complete-lesson/certificate_check.ts";
import type { UpgradeOffer } from "../../supabase/functions/_domain/handoff.ts";
import { call, download } from "./api.ts";
import { errorBox, h, show } from "./dom.ts";
import { formatDate, formatMoney, t } from "./i18n.ts";

/** The main course offered after this one: the personal link, its deadline and what the tripwire counts for. */
export function upgradeCard(upgrade: UpgradeOffer): HTMLElement {
  return h(
    "section",
    { class: "card upgrade" },
    h("h2", {}, t("upgrade.title")),
    h("p", {}, t("upgrade.text")),
    upgrade.tripwire_credit
      ? h(
        "p",
        {},
        t("upgrade.credit", {
          amount: formatMoney(upgrade.tripwire_credit.amount, upgrade.tripwire_credit.currency),
        }),
      )
      : null,
    h("p", { class: "muted" }, t("upgrade.until", { date: formatDate(upgrade.expires_at) })),
    h("a", { class: "button", href: upgrade.url }, t("upgrade.go")),
  );
}

/** Downloads the certificate as a PDF in the reader's language; a refusal (revoked meanwhile) is shown beside. */
export function pdfButton(
  certificate: { certificate_number: string; verification_code: string },
): HTMLElement {
  const status = h("div", { "aria-live": "polite" });
  const path = `complete-lesson/certificate/${
    encodeURIComponent(certificate.certificate_number)
  }/${certificate.verification_code}/certificate.pdf`;
  return h(
    "div",
    {},
    h("button", {
      type: "button",
      onclick: async () => {
        try {
          await download(path, `${certificate.certificate_number}.pdf`);
        } catch (error) {
          show(status, errorBox(error));
        }
      },
    }, t("dashboard.download_pdf")),
    status,
  );
}

/** The public page of a certificate: `#/verify/<number>/<code>`, the link the student shares. */
export function verifyLink(certificate: { certificate_number: string; verification_code: string }): string {
  return `#/verify/${encodeURIComponent(certificate.certificate_number)}/${certificate.verification_code}`;
}

export async function verifyScreen(main: HTMLElement, number: string, code: string): Promise<void> {
  show(main, t("common.loading"));
  try {
    const path = `complete-lesson/certificate/${encodeURIComponent(number)}/${encodeURIComponent(code)}`;
    const check = await call<CertificateCheck>(path);
    show(
      main,
      h(
        "section",
        { class: "card certificate" },
        h("h1", {}, t("verify.title")),
        check.valid
          ? [
            h("p", { class: "success" }, t("verify.valid", { number: check.certificate_number })),
            h("p", { class: "statement" }, check.course.statement),
            h("p", {}, t("verify.issued_to", { name: check.full_name, date: formatDate(check.issued_at) })),
            h("p", {}, t("verify.course", { title: check.course.title })),
            h("ol", {}, check.course.modules.map((module) => h("li", {}, module.title))),
            pdfButton({ certificate_number: check.certificate_number, verification_code: code }),
            check.upgrade ? upgradeCard(check.upgrade) : null,
          ]
          : h(
            "p",
            { class: "error", role: "status" },
            t("verify.revoked", { number: check.certificate_number, date: formatDate(check.revoked_at) }),
          ),
      ),
    );
  } catch (error) {
    show(main, h("h1", {}, t("verify.title")), errorBox(error));
  }
}

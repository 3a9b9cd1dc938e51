/// <reference lib="dom" />
/**
 * The admin's screens: the audit trail (who did what, from where, what changed), and a student's personal
 * data — download everything as JSON, or erase the person after an explicit confirmation.
 */
import type { AuditPage } from "../../supabase/functions/audit/audit.ts";
import type { AuditAction } from "../../supabase/functions/_shared/audit.ts";
import type { Erased, PersonExport } from "../../supabase/functions/_shared/personal_data.ts";
import { call } from "./api.ts";
import { downloadJson, errorBox, h, handledForm, show, showFormError } from "./dom.ts";
import { formatDate, languages, t, type TextKey } from "./i18n.ts";

type Entry = AuditPage["entries"][number];

// Every audited action has its text (a missing one fails the type check), and the filter offers them all.
const actionTexts: Record<`action.${AuditAction}`, string> = languages.en;
const auditActions = Object.keys(actionTexts).filter((key) => key.startsWith("action."))
  .map((key) => key.slice("action.".length) as AuditAction);

function changesText(entry: Entry): string {
  return Object.entries(entry.changes)
    .map(([field, change]) => `${field}: ${JSON.stringify(change.before)} → ${JSON.stringify(change.after)}`)
    .join("; ");
}

function auditRow(entry: Entry): HTMLElement {
  return h(
    "tr",
    {},
    h("td", {}, h("time", { dateTime: entry.created_at }, formatDate(entry.created_at))),
    h("td", {}, `${t(`audit.role.${entry.actor_role}` as TextKey)} ${entry.actor_id?.slice(0, 8) ?? ""}`),
    h("td", {}, t(`action.${entry.action}` as TextKey), entry.reason ? ` (${entry.reason})` : null),
    h(
      "td",
      {},
      entry.target_type === "student" && entry.target_id
        ? h("a", { href: `#/students/${entry.target_id}` }, entry.target_id.slice(0, 8))
        : entry.target_id?.slice(0, 8) ?? "—",
    ),
    h("td", { class: "changes" }, changesText(entry)),
    h("td", {}, entry.client_ip ?? "—"),
  );
}

/** The audit trail, newest first, filtered by action, a page at a time. */
export async function auditScreen(main: HTMLElement): Promise<void> {
  const body = h("tbody", {});
  const more = h("div", {});
  const status = h("div", { "aria-live": "polite" });
  let action = "";
  const load = async (after: string | null) => {
    const query = new URLSearchParams({ limit: "50" });
    if (action) query.set("action", action);
    if (after) query.set("after", after);
    try {
      const page = await call<AuditPage>(`audit?${query}`);
      if (!after) body.replaceChildren();
      body.append(...page.entries.map(auditRow));
      show(
        more,
        page.next_cursor
          ? h("button", { type: "button", onclick: () => void load(page.next_cursor) }, t("common.load_more"))
          : null,
      );
      show(status);
    } catch (error) {
      show(status, errorBox(error));
    }
  };
  show(
    main,
    h("h1", {}, t("audit.title")),
    h(
      "label",
      {},
      t("audit.action"),
      " ",
      h(
        "select",
        {
          name: "action",
          onchange: (event: Event) => {
            action = (event.target as HTMLSelectElement).value;
            void load(null);
          },
        },
        h("option", { value: "" }, t("audit.any")),
        auditActions.map((value) => h("option", { value }, t(`action.${value}` as TextKey))),
      ),
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
          (["audit.when", "audit.who", "audit.what", "audit.target", "audit.changes", "audit.from"] as const)
            .map((key) => h("th", { scope: "col" }, t(key))),
        ),
      ),
      body,
    ),
    more,
    status,
  );
  await load(null);
}

/** A student's personal data, for an admin: the JSON export, and erasure behind a confirmation. */
export function personalDataSection(studentId: string): HTMLElement {
  const status = h("div", { "aria-live": "polite" });
  const confirmation = h("input", { type: "checkbox", name: "confirm", required: true });
  const erase = handledForm(
    { class: "action" },
    async (data) => {
      try {
        const erased = await call<Erased>(`students/${studentId}/erase`, {
          body: { reason: String(data.get("reason")) },
        });
        show(
          status,
          h(
            "p",
            { class: "success", role: "status" },
            t("privacy.erased", { date: formatDate(erased.erased_at) }),
          ),
        );
      } catch (error) {
        showFormError(erase, status, error);
      }
    },
    h("label", {}, t("detail.reason"), h("input", { name: "reason", required: true, maxLength: 500 })),
    h("label", { class: "check" }, confirmation, " ", t("privacy.erase_confirm")),
    h("button", { type: "submit", class: "danger" }, t("privacy.erase")),
  );
  return h(
    "section",
    {},
    h("h2", {}, t("privacy.title")),
    h("button", {
      type: "button",
      onclick: async () => {
        try {
          downloadJson(`student-${studentId}.json`, await call<PersonExport>(`students/${studentId}/export`));
        } catch (error) {
          show(status, errorBox(error));
        }
      },
    }, t("privacy.export")),
    erase,
    status,
  );
}

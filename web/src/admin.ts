/// <reference lib="dom" />
/**
 * The admin's screens: the audit trail (who did what, from where, what changed), and a student's personal
 * data — download everything as JSON, or erase the person after an explicit confirmation.
 */
import type { AuditPage } from "../../supabase/functions/audit/audit.ts";
import type { AuditAction } from "../../supabase/functions/_domain/audit.ts";
import type { Erased } from "../../supabase/functions/_domain/erasure.ts";
import type { PersonExport } from "../../supabase/functions/_domain/personal_data.ts";
import type { DeliveryList } from "../../supabase/functions/webhooks/deliveries.ts";
import type { CreatedEndpoint, EndpointList } from "../../supabase/functions/webhooks/endpoints.ts";
import { eventTypes } from "../../supabase/functions/_domain/event_types.ts";
import { call } from "./api.ts";
import { downloadJson, errorBox, h, handledForm, show, showFormError } from "./dom.ts";
import { formatDate, formatMoney, hasText, languages, t, type TextKey } from "./i18n.ts";

type Entry = AuditPage["entries"][number];
type DeliveryPage = DeliveryList;

// Every audited action has its text (a missing one fails the type check), and the filter offers them all.
const actionTexts: Record<`action.${AuditAction}`, string> = languages.en;
const auditActions = Object.keys(actionTexts).filter((key) => key.startsWith("action."))
  .map((key) => key.slice("action.".length) as AuditAction);

/** A value of a change as a person reads it: hidden personal data said so, statuses and amounts in words. */
function changeValue(field: string, value: unknown, currency: string): string {
  if (value === null || value === undefined) return "—";
  if (value === "(personal)") return t("audit.personal");
  if (value === "(secret)") return t("audit.secret");
  if (typeof value === "boolean") return t(value ? "audit.yes" : "audit.no");
  if (field === "status" && typeof value === "string" && hasText(`status.${value}`)) {
    return t(`status.${value}` as TextKey);
  }
  if (/amount|price/.test(field) && !Number.isNaN(Number(value))) return formatMoney(Number(value), currency);
  if (field === "promotions" && Array.isArray(value)) {
    return value.length
      ? value.map((promotion: { price: string; starts_at: string; ends_at: string }) =>
        `${formatMoney(promotion.price, currency)} (${formatDate(promotion.starts_at)} – ${
          formatDate(promotion.ends_at)
        })`
      ).join(", ")
      : t("audit.no_promotions");
  }
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** What changed, field by field in the reader's words: «Возвращено: 0 ₸ → 490 ₸». */
function changesText(entry: Entry, currency: string): string {
  return Object.entries(entry.changes)
    .map(([field, change]) => {
      const label = hasText(`field.${field}`) ? t(`field.${field}` as TextKey) : field.replaceAll("_", " ");
      return `${label}: ${changeValue(field, change.before, currency)} → ${
        changeValue(field, change.after, currency)
      }`;
    })
    .join("; ");
}

/**
 * What was done, with the money it moved: «возврат оплаты: 490 ₸», «новый ученик, оплата 490 ₸». The amount is
 * the change's own (a refund: refunded after less before).
 */
function actionText(entry: Entry, currency: string): string {
  const amount = (field: string) => {
    const change = entry.changes[field];
    return change ? Number(change.after ?? 0) - Number(change.before ?? 0) : null;
  };
  const action = t(`action.${entry.action}` as TextKey);
  if (entry.action === "student.refunded" && amount("refunded_amount")) {
    return t("audit.refund_of", { action, amount: formatMoney(amount("refunded_amount")!, currency) });
  }
  if (entry.action === "student.created" && amount("payment_amount") !== null) {
    return t("audit.paid", { action, amount: formatMoney(amount("payment_amount")!, currency) });
  }
  return action;
}

/** Who: the staff member's name and role, or the scheduler or the database. */
function actorText(entry: Entry): string {
  const role = t(`audit.role.${entry.actor_role}` as TextKey);
  return entry.actor_name ? `${entry.actor_name} (${role})` : role;
}

function auditRow(entry: Entry, currency: string): HTMLElement {
  const target = entry.target_name ?? entry.target_id ?? "—";
  return h(
    "tr",
    {},
    h("td", {}, h("time", { dateTime: entry.created_at }, formatDate(entry.created_at))),
    h("td", {}, actorText(entry)),
    h(
      "td",
      {},
      actionText(entry, currency),
      entry.reason
        ? h("span", { class: "muted" }, ` · ${t("audit.reason", { reason: entry.reason })}`)
        : null,
    ),
    h(
      "td",
      {},
      entry.target_type === "student" && entry.target_id
        ? h("a", { href: `#/students/${entry.target_id}` }, target)
        : target,
    ),
    h("td", { class: "changes" }, changesText(entry, currency)),
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
      body.append(...page.entries.map((entry) => auditRow(entry, page.currency)));
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

type EndpointRow = EndpointList["endpoints"][number];

/** An endpoint's line: where, what it takes, its state and deliveries, and what the admin can do to it. */
function endpointRow(endpoint: EndpointRow, reload: () => Promise<void>, status: HTMLElement): HTMLElement {
  const act = (change: "resume" | "disable") => async () => {
    try {
      await call(`webhooks/endpoints/${endpoint.id}/${change}`, { body: {} });
      await reload();
    } catch (error) {
      show(status, errorBox(error));
    }
  };
  return h(
    "tr",
    {},
    h("td", { class: "wrap" }, endpoint.url, endpoint.description ? ` (${endpoint.description})` : null),
    h("td", {}, endpoint.event_types.join(", ")),
    h("td", {}, t(`webhooks.state.${endpoint.state}`)),
    h(
      "td",
      {},
      t("webhooks.counts", {
        delivered: String(endpoint.deliveries.delivered),
        pending: String(endpoint.deliveries.pending),
        failed: String(endpoint.deliveries.failed),
      }),
    ),
    h(
      "td",
      {},
      endpoint.state === "paused"
        ? h("button", { type: "button", onclick: act("resume") }, t("webhooks.resume"))
        : null,
      endpoint.state === "disabled"
        ? null
        : h("button", { type: "button", class: "danger", onclick: act("disable") }, t("webhooks.disable")),
    ),
  );
}

type DeliveryRow = DeliveryPage["deliveries"][number];

function deliveryRow(delivery: DeliveryRow, reload: () => Promise<void>, status: HTMLElement): HTMLElement {
  const last = delivery.recent_attempts[0];
  return h(
    "tr",
    {},
    h("td", {}, h("time", { dateTime: delivery.event.created_at }, formatDate(delivery.event.created_at))),
    h("td", {}, delivery.event.type),
    h("td", {}, t(`webhooks.delivery.${delivery.status}`)),
    h("td", {}, String(delivery.attempts)),
    h(
      "td",
      { class: "wrap" },
      last ? `${last.response_status ?? "—"} ${last.error ?? ""} · ${last.duration_ms} ms` : "—",
    ),
    h(
      "td",
      {},
      h("button", {
        type: "button",
        onclick: async () => {
          try {
            await call(`webhooks/deliveries/${delivery.id}/resend`, { body: {} });
            await reload();
          } catch (error) {
            show(status, errorBox(error));
          }
        },
      }, t("webhooks.resend")),
    ),
  );
}

const tableOf = (headers: TextKey[], body: HTMLElement) =>
  h("table", {}, h("thead", {}, h("tr", {}, headers.map((key) => h("th", { scope: "col" }, t(key))))), body);

/** The academy's webhook endpoints (its CRM), their deliveries and attempts; registering one shows its secret once. */
export async function webhooksScreen(main: HTMLElement): Promise<void> {
  const endpoints = h("tbody", {});
  const deliveries = h("tbody", {});
  const status = h("div", { "aria-live": "polite" });
  const created = h("div", { "aria-live": "polite" });
  const reload = async () => {
    try {
      const [list, page] = await Promise.all([
        call<EndpointList>("webhooks/endpoints"),
        call<DeliveryPage>("webhooks/deliveries?limit=50"),
      ]);
      endpoints.replaceChildren(...list.endpoints.map((endpoint) => endpointRow(endpoint, reload, status)));
      deliveries.replaceChildren(...page.deliveries.map((delivery) => deliveryRow(delivery, reload, status)));
    } catch (error) {
      show(status, errorBox(error));
    }
  };
  const form = handledForm(
    {},
    async (data) => {
      try {
        const endpoint = await call<CreatedEndpoint>("webhooks/endpoints", {
          body: {
            url: String(data.get("url")),
            event_types: data.getAll("event_types").map(String),
            ...(data.get("description") ? { description: String(data.get("description")) } : {}),
          },
        });
        show(
          created,
          h("p", { class: "success", role: "status" }, t("webhooks.created")),
          h("p", {}, h("code", { class: "wrap" }, endpoint.secret)),
        );
        form.reset();
        await reload();
      } catch (error) {
        showFormError(form, created, error);
      }
    },
    h(
      "label",
      {},
      t("webhooks.url"),
      h("input", { name: "url", type: "url", required: true, maxLength: 2000 }),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, t("webhooks.event_types")),
      eventTypes.map((type) =>
        h(
          "label",
          { class: "check" },
          h("input", { type: "checkbox", name: "event_types", value: type }),
          ` ${type}`,
        )
      ),
    ),
    h("label", {}, t("webhooks.description"), h("input", { name: "description", maxLength: 500 })),
    h("button", { type: "submit" }, t("webhooks.add")),
  );
  show(
    main,
    h("h1", {}, t("webhooks.title")),
    h("p", {}, t("webhooks.explain")),
    tableOf([
      "webhooks.url",
      "webhooks.event_types",
      "webhooks.state",
      "webhooks.deliveries",
      "webhooks.actions",
    ], endpoints),
    h("h2", {}, t("webhooks.add")),
    form,
    created,
    h("h2", {}, t("webhooks.deliveries")),
    tableOf(
      [
        "audit.when",
        "webhooks.event",
        "webhooks.status",
        "webhooks.attempts",
        "webhooks.last_answer",
        "webhooks.actions",
      ],
      deliveries,
    ),
    status,
  );
  await reload();
}

/// <reference lib="dom" />
/**
 * The admin's Staff screen, over the `staff` routes: the managers and admins with how many students each sold,
 * a new one (the password shown once), and deactivate / reactivate, each asked first.
 */
import type { CreatedStaff, StaffList, StaffMember } from "../../supabase/functions/staff/staff.ts";
import { call } from "./api.ts";
import { askToConfirm, errorBox, h, handledForm, show, showFormError, tableOf } from "./dom.ts";
import { formatDate, t } from "./i18n.ts";
import { shownOnce } from "./new_student_screen.ts";

function memberRow(member: StaffMember, reload: () => Promise<void>, status: HTMLElement): HTMLElement {
  const active = member.deactivated_at === null;
  const confirmation = h("div", {});
  const change = h("button", {
    type: "button",
    class: active ? "danger" : "",
    onclick: async () => {
      const question = t(active ? "staff.deactivate_question" : "staff.reactivate_question", {
        name: member.full_name,
      });
      if (
        !await askToConfirm(
          confirmation,
          question,
          t(active ? "staff.deactivate" : "staff.reactivate"),
          t("confirm.cancel"),
        )
      ) return;
      try {
        await call<StaffMember>(`staff/${member.id}/${active ? "deactivate" : "reactivate"}`, { body: {} });
        await reload();
      } catch (error) {
        show(status, errorBox(error));
      }
    },
  }, t(active ? "staff.deactivate" : "staff.reactivate"));
  return h(
    "tr",
    {},
    h("td", {}, member.full_name),
    h("td", {}, member.email),
    h("td", {}, t(member.role === "admin" ? "staff.role.admin" : "staff.role.manager")),
    h("td", {}, String(member.students_sold)),
    h(
      "td",
      {},
      active ? t("staff.active") : t("staff.deactivated_at", { date: formatDate(member.deactivated_at) }),
    ),
    h("td", {}, change, confirmation),
  );
}

export async function staffScreen(main: HTMLElement): Promise<void> {
  const rows = h("tbody", {});
  const status = h("div", { "aria-live": "polite" });
  const created = h("div", { "aria-live": "polite" });
  const reload = async () => {
    try {
      const list = await call<StaffList>("staff");
      rows.replaceChildren(...list.staff.map((member) => memberRow(member, reload, status)));
    } catch (error) {
      show(status, errorBox(error));
    }
  };
  const form = handledForm(
    {},
    async (data) => {
      try {
        const member = await call<CreatedStaff>("staff", {
          body: {
            email: String(data.get("email")),
            full_name: String(data.get("full_name")),
            role: String(data.get("role")),
          },
        });
        show(
          created,
          h("p", { class: "success", role: "status" }, t("staff.created", { name: member.full_name })),
          shownOnce(t("new_student.password"), member.password),
        );
        form.reset();
        await reload();
      } catch (error) {
        showFormError(form, created, error);
      }
    },
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
      t("staff.role"),
      h(
        "select",
        { name: "role" },
        h("option", { value: "manager" }, t("staff.role.manager")),
        h("option", { value: "admin" }, t("staff.role.admin")),
      ),
    ),
    h("button", { type: "submit" }, t("staff.create")),
  );
  show(
    main,
    h("h1", {}, t("staff.title")),
    status,
    tableOf(
      [
        t("new_student.full_name"),
        t("sign_in.email"),
        t("staff.role"),
        t("staff.students_sold"),
        t("staff.state"),
        t("staff.action"),
      ],
      rows,
    ),
    h("h2", {}, t("staff.new")),
    form,
    created,
  );
  await reload();
}

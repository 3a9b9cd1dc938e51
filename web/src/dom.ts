/// <reference lib="dom" />
/** The app's one DOM helper: `h("button", { onclick }, "text")`. Text is always set as text, never HTML. */
import { ApiError } from "./api.ts";
import { saveFile } from "./files.ts";
import { hasText, t } from "./i18n.ts";

type Child = Node | string | number | null | undefined | false | Child[];
type Attributes = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value as EventListener);
    } else if (name in element && !name.includes("-") && name !== "list") {
      (element as unknown as Record<string, unknown>)[name] = value;
    } else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/** A table with a header row of `headings` (column headers) over `body` (a tbody, or its rows). */
export function tableOf(headings: string[], ...body: Child[]): HTMLTableElement {
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, ...headings.map((heading) => h("th", { scope: "col" }, heading)))),
    ...body,
  );
}

/** A form whose submit (the page's own navigation prevented) hands its fields to `onSubmit`. */
export function handledForm(
  attributes: Attributes,
  onSubmit: (data: FormData) => unknown,
  ...children: Child[]
): HTMLFormElement {
  const form: HTMLFormElement = h("form", {
    ...attributes,
    onsubmit: (event: Event) => {
      event.preventDefault();
      clearFieldErrors(form);
      onSubmit(new FormData(form));
    },
  }, ...children);
  return form;
}

/** Replaces what `parent` shows. */
export function show(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** What an error says, in the reader's language. */
function errorText(error: unknown): string {
  // An API error arrives already in the reader's language (api.ts); Supabase Auth's errors carry a code too.
  const code = (error as { code?: unknown } | null)?.code;
  const key = `error.${code}`;
  return !(error instanceof ApiError) && typeof code === "string" && hasText(key)
    ? t(key, { length: 8 })
    : error instanceof Error
    ? error.message
    : String(error);
}

/** Shows an error as the API worded it (ApiError's message), never a blank screen. */
export function errorBox(error: unknown): HTMLElement {
  return h("p", { class: "error", role: "alert" }, errorText(error));
}

/** The field an error code is about, when it is about one (the API's and Supabase Auth's codes). */
const fieldOfCode: Record<string, string> = {
  email_exists: "email",
  email_address_invalid: "email",
  weak_password: "password",
  same_password: "password",
};

/** Each field an error is about, with what to say next to it. */
function fieldErrors(error: unknown): [string, string][] {
  const { code, details } = (error ?? {}) as { code?: unknown; details?: unknown };
  if (code === "validation_failed" && Array.isArray(details)) {
    return details.map((detail: { path?: string }) => {
      const name = String(detail.path ?? "").split(".")[0];
      // What is wrong and how to fix it, for the fields the app knows; else which field.
      const help = `error.field.${name}`;
      if (hasText(help)) return [name, t(help)];
      const label = `field.${name}`;
      return [name, t("error.field", { field: hasText(label) ? t(label) : name })];
    });
  }
  return typeof code === "string" && fieldOfCode[code] ? [[fieldOfCode[code], errorText(error)]] : [];
}

let fieldErrorCount = 0;

/** Takes the previous submit's messages off the form's fields. */
export function clearFieldErrors(form: HTMLFormElement): void {
  for (const message of form.querySelectorAll(".field-error")) message.remove();
  for (const field of form.querySelectorAll("[aria-invalid]")) {
    field.removeAttribute("aria-invalid");
    field.removeAttribute("aria-describedby");
  }
}

/**
 * Shows why a submit failed: an error about fields next to each field (its message named by the field's
 * `aria-describedby`, the field `aria-invalid`, the first one focused), anything else in `status`.
 * `field` names the field for an error the app found itself.
 */
export function showFormError(
  form: HTMLFormElement,
  status: HTMLElement,
  error: unknown,
  field?: string,
): void {
  clearFieldErrors(form);
  const marked: HTMLElement[] = [];
  for (const [name, message] of field ? [[field, errorText(error)]] : fieldErrors(error)) {
    const input = form.elements.namedItem(name);
    if (!(input instanceof HTMLElement)) continue;
    const id = `field-error-${++fieldErrorCount}`;
    input.insertAdjacentElement("afterend", h("span", { class: "error field-error", id }, message));
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", id);
    marked.push(input);
  }
  if (marked.length === 0) return show(status, errorBox(error));
  show(status);
  marked[0].focus();
}

let undoCurrent: (() => void) | undefined;

/** What the current screen must undo when it is left (the player's tracker). */
export function onLeave(undo: () => void): void {
  undoCurrent = undo;
}

export function leaveScreen(): void {
  undoCurrent?.();
  undoCurrent = undefined;
}

/** Offers `data` as a JSON file download, as a browser saves any file. */
export function downloadJson(fileName: string, data: unknown): void {
  saveFile(fileName, new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
}

/**
 * Asks before something that cannot be undone (a refund, a suspension, a new password): the question and
 * two buttons in `where`, the confirming one focused; resolves with the answer.
 */
export function askToConfirm(
  where: HTMLElement,
  question: string,
  yes: string,
  no: string,
): Promise<boolean> {
  return new Promise((resolve) => {
    const answer = (value: boolean) => {
      where.replaceChildren();
      resolve(value);
    };
    const confirm = h("button", { type: "button", class: "danger", onclick: () => answer(true) }, yes);
    show(
      where,
      h(
        "div",
        { class: "confirm", role: "alertdialog", "aria-label": question },
        h("p", {}, question),
        confirm,
        h("button", { type: "button", class: "link", onclick: () => answer(false) }, no),
      ),
    );
    confirm.focus();
  });
}

/**
 * Gives every table cell its column's header as `data-label`, which the narrow layout shows before the
 * cell's value when a table becomes a list (web/styles.css). Cells that have one keep it.
 */
export function labelCells(root: ParentNode): void {
  for (const table of root.querySelectorAll("table")) {
    const headers = [...table.querySelectorAll("thead th")].map((header) => header.textContent ?? "");
    for (const row of table.querySelectorAll("tbody tr")) {
      [...row.children].forEach((cell, column) => {
        if (headers[column] && !cell.hasAttribute("data-label")) {
          cell.setAttribute("data-label", headers[column]);
        }
      });
    }
  }
}

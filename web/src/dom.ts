/// <reference lib="dom" />
/** The app's one DOM helper: `h("button", { onclick }, "text")`. Text is always set as text, never HTML. */
import { ApiError } from "./api.ts";
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

/** Shows an error as the API worded it (ApiError's message), never a blank screen. */
export function errorBox(error: unknown): HTMLElement {
  // An API error arrives already in the reader's language (api.ts); Supabase Auth's errors carry a code too.
  const code = (error as { code?: unknown } | null)?.code;
  const key = `error.${code}`;
  const message = !(error instanceof ApiError) && typeof code === "string" && hasText(key)
    ? t(key, { length: 8 })
    : error instanceof Error
    ? error.message
    : String(error);
  return h("p", { class: "error", role: "alert" }, message);
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
  const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
  const link = h("a", { href: url, download: fileName });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
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

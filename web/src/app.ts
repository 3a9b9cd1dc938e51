/// <reference lib="dom" />
/**
 * The reference web app: the academy's screens on top of the functions, as a front end would build them
 * (supabase-js for sign-in and `functions.invoke`, the watch tracker for the player). Framework-free and
 * small on purpose: something to copy from. Routes are hashes: #/sign-in, #/forgot-password,
 * #/new-password, #/course, #/lesson/<id>, #/students, #/students/<id>, #/new-student, #/leaderboard,
 * #/second-sale, #/payments, #/audit, #/webhooks, #/staff and #/status (admins), #/verify/<number>.
 */
import { secondSaleScreen } from "./second_sale_screen.ts";
import { type SignedIn, signedInUser, supabase } from "./api.ts";
import { errorBox, h, handledForm, labelCells, leaveScreen, show, showFormError } from "./dom.ts";
import { currentLanguage, setLanguage, t } from "./i18n.ts";
import { leaderboardScreen } from "./leaderboard_screen.ts";
import { newStudentScreen } from "./new_student_screen.ts";
import { studentDetailScreen } from "./student_detail_screen.ts";
import { studentsScreen } from "./students_screen.ts";
import { courseScreen, lessonScreen } from "./student.ts";
import { verifyScreen } from "./certificate_page.ts";
import { auditScreen, webhooksScreen } from "./admin.ts";
import { paymentsScreen } from "./payments.ts";
import { staffScreen } from "./staff.ts";
import { statusScreen } from "./status.ts";

const root = document.getElementById("app")!;

function navigation(user: SignedIn | undefined): HTMLElement {
  const links: [string, string][] = !user
    ? []
    : user.role === "student"
    ? [["#/course", t("nav.dashboard")]]
    : [
      ["#/students", t("nav.students")],
      ["#/new-student", t("nav.new_student")],
      ["#/leaderboard", t("nav.leaderboard")],
      ["#/second-sale", t("nav.second_sale")],
      ...(user.role === "admin"
        ? [
          ["#/payments", t("nav.payments")],
          ["#/audit", t("nav.audit")],
          [
            "#/webhooks",
            t("nav.webhooks"),
          ],
          ["#/staff", t("nav.staff")],
          ["#/status", t("nav.status")],
        ] as [
          string,
          string,
        ][]
        : []),
    ];
  // On a narrow screen (a phone) the links fold into a menu behind one button.
  const toggle = h("button", {
    type: "button",
    class: "menu-toggle",
    "aria-expanded": "false",
    "aria-controls": "main-menu",
    onclick: () => toggle.setAttribute("aria-expanded", String(nav.classList.toggle("open"))),
  }, t("nav.menu"));
  const nav = h(
    "nav",
    { "aria-label": t("nav.label") },
    h("strong", { class: "brand" }, t("app.title")),
    toggle,
    h("div", { class: "menu", id: "main-menu" }, menu(user, links)),
  );
  return nav;
}

/** The top bar's links, the signed-in person, the language switch and "Sign out". */
function menu(user: SignedIn | undefined, links: [string, string][]): HTMLElement[] {
  return [
    ...links.map(([href, text]) =>
      h("a", { href, "aria-current": location.hash.startsWith(href) ? "page" : null }, text)
    ),
    h("span", { class: "spacer" }),
    user ? h("span", { class: "who" }, user.fullName) : null,
    h("button", {
      type: "button",
      class: "link",
      // It names the other language in that language ("English" on a Russian page).
      lang: currentLanguage() === "ru" ? "en" : "ru",
      onclick: () => {
        setLanguage(currentLanguage() === "ru" ? "en" : "ru");
        void route();
      },
    }, t("nav.language")),
    user
      ? h("button", {
        type: "button",
        class: "link",
        onclick: async () => {
          await supabase.auth.signOut();
          location.hash = "#/sign-in";
        },
      }, t("nav.sign_out"))
      : null,
  ].filter((element): element is HTMLElement => element !== null);
}

function signInScreen(main: HTMLElement): void {
  const status = h("div", { "aria-live": "polite" });
  const form = handledForm(
    { class: "card narrow" },
    async (data) => {
      show(status, t("common.loading"));
      const { error } = await supabase.auth.signInWithPassword({
        email: String(data.get("email")),
        password: String(data.get("password")),
      });
      if (error) return show(status, errorBox(error));
      const user = await signedInUser();
      location.hash = user?.role === "student" ? "#/course" : "#/students";
    },
    h("h1", {}, t("sign_in.title")),
    h(
      "label",
      {},
      t("sign_in.email"),
      h("input", { name: "email", type: "email", required: true, autocomplete: "username" }),
    ),
    h(
      "label",
      {},
      t("sign_in.password"),
      h("input", { name: "password", type: "password", required: true, autocomplete: "current-password" }),
    ),
    h("button", { type: "submit" }, t("sign_in.submit")),
    h("p", {}, h("a", { href: "#/forgot-password" }, t("sign_in.forgot"))),
    status,
  );
  show(main, form);
}

/**
 * "Forgot password?": Supabase Auth e-mails a link back to this app (resetPasswordForEmail). The answer is
 * the same whether or not the address has an account. `failure` is the error a followed link came back with.
 */
function forgotPasswordScreen(main: HTMLElement, failure?: string): void {
  const status = h("div", { "aria-live": "polite" }, failure ? errorBox({ code: failure }) : null);
  const form = handledForm(
    { class: "card narrow" },
    async (data) => {
      show(status, t("common.loading"));
      const { error } = await supabase.auth.resetPasswordForEmail(String(data.get("email")), {
        redirectTo: `${location.origin}/`,
      });
      if (error) return showFormError(form, status, error);
      show(status, h("p", { class: "success" }, t("forgot.sent")));
    },
    h("h1", {}, t("forgot.title")),
    h("p", {}, t("forgot.lead")),
    h(
      "label",
      {},
      t("sign_in.email"),
      h("input", { name: "email", type: "email", required: true, autocomplete: "username" }),
    ),
    h("button", { type: "submit" }, t("forgot.submit")),
    h("p", {}, h("a", { href: "#/sign-in" }, t("forgot.back"))),
    status,
  );
  show(main, form);
}

/** After a recovery link: the person is signed in for this and sets a new password (updateUser). */
function newPasswordScreen(main: HTMLElement, user: SignedIn): void {
  const status = h("div", { "aria-live": "polite" });
  const form = handledForm(
    { class: "card narrow" },
    async (data) => {
      const password = String(data.get("password"));
      if (password !== String(data.get("repeat"))) {
        return showFormError(form, status, new Error(t("new_password.mismatch")), "repeat");
      }
      show(status, t("common.loading"));
      const { error } = await supabase.auth.updateUser({ password });
      if (error) return showFormError(form, status, error);
      show(
        status,
        h("p", { class: "success" }, t("new_password.done")),
        h(
          "a",
          { class: "button", href: user.role === "student" ? "#/course" : "#/students" },
          t("new_password.go"),
        ),
      );
    },
    h("h1", {}, t("new_password.title")),
    h("p", {}, user.email),
    h(
      "label",
      {},
      t("new_password.password"),
      h("input", {
        name: "password",
        type: "password",
        required: true,
        minlength: 8,
        autocomplete: "new-password",
      }),
    ),
    h(
      "label",
      {},
      t("new_password.repeat"),
      h("input", {
        name: "repeat",
        type: "password",
        required: true,
        minlength: 8,
        autocomplete: "new-password",
      }),
    ),
    h("button", { type: "submit" }, t("new_password.submit")),
    status,
  );
  show(main, form);
}

// A followed recovery link signs the person in; supabase-js says so once it has read the link.
supabase.auth.onAuthStateChange((event) => {
  if (event === "PASSWORD_RECOVERY") location.hash = "#/new-password";
});

/** Which navigation is the latest: an earlier one still waiting must not draw over it. */
let navigations = 0;

async function route(): Promise<void> {
  leaveScreen();
  const thisNavigation = ++navigations;
  const user = await signedInUser();
  if (thisNavigation !== navigations) return;
  const [, name = "", param, extra = ""] = location.hash.split("/");
  const main = h("main", { id: "main", tabindex: -1 });
  show(root, navigation(user), main);
  document.title = t("app.title");
  try {
    if (name === "verify" && param) return await verifyScreen(main, decodeURIComponent(param), extra);
    // A recovery link that was used, expired or tampered with comes back with Supabase Auth's error code.
    const linkError = new URLSearchParams(location.hash.slice(1)).get("error_code");
    if (linkError) return forgotPasswordScreen(main, linkError);
    if (name === "forgot-password") return forgotPasswordScreen(main);
    if (user && name === "new-password") return newPasswordScreen(main, user);
    if (!user || name === "sign-in") return signInScreen(main);
    if (user.role === "student") {
      if (name === "lesson" && param) return await lessonScreen(main, Number(param));
      return await courseScreen(main);
    }
    if (name === "students" && param) return await studentDetailScreen(main, param, user);
    if (name === "audit" && user.role === "admin") return await auditScreen(main);
    if (name === "webhooks" && user.role === "admin") return await webhooksScreen(main);
    if (name === "payments" && user.role === "admin") return await paymentsScreen(main);
    if (name === "status" && user.role === "admin") return await statusScreen(main);
    if (name === "staff" && user.role === "admin") return await staffScreen(main);
    if (name === "new-student") return newStudentScreen(main);
    if (name === "leaderboard") return await leaderboardScreen(main, user);
    if (name === "second-sale") return await secondSaleScreen(main, user);
    return await studentsScreen(main, user);
  } catch (error) {
    show(main, errorBox(error));
  }
}

// On a phone a table reads as a list: each cell carries its column's name (dom.ts, labelCells).
new MutationObserver(() => labelCells(root)).observe(root, { childList: true, subtree: true });
globalThis.addEventListener("hashchange", () => void route());
void route();

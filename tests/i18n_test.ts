import assert from "node:assert/strict";
import { errorCodes } from "../supabase/functions/_shared/errors.ts";
import { acceptedLanguage } from "../supabase/functions/_shared/language.ts";

/** The web app's catalogue (web/src/texts/) as text: its Russian half and its English half. */
async function catalogueHalves(): Promise<{ ru: string; en: string }> {
  const read = (language: string) =>
    Deno.readTextFile(new URL(`../web/src/texts/${language}.ts`, import.meta.url));
  return { ru: await read("ru"), en: await read("en") };
}

Deno.test("every error code the API answers has a text in both languages of the web app", async () => {
  const { ru, en } = await catalogueHalves();
  for (const code of errorCodes) {
    assert.ok(ru.includes(`"error.${code}":`), `ru lacks error.${code}`);
    assert.ok(en.includes(`"error.${code}":`), `en lacks error.${code}`);
  }
});

Deno.test("every error code Supabase Auth answers the web app has a text in both languages", async () => {
  const { ru, en } = await catalogueHalves();
  // What the sign-in and password recovery screens can meet (GoTrue's error_code values).
  const folder = new URL("../scripts/lib/local_auth/", import.meta.url);
  let source = "";
  // Not admin.ts: its routes answer the functions, never a browser.
  for (const file of ["server.ts", "users.ts", "sessions.ts", "recovery.ts"]) {
    source += await Deno.readTextFile(new URL(file, folder));
  }
  const codes = [
    ...new Set([...source.matchAll(/error_code: "([a-z_]+)"|new AuthError\(\s*\d+,\s*"([a-z_]+)"/g)]
      .map((match) => match[1] ?? match[2])),
  ];
  assert.ok(codes.includes("invalid_credentials"), codes.join());
  for (const code of codes) {
    assert.ok(ru.includes(`"error.${code}":`), `ru lacks error.${code}`);
    assert.ok(en.includes(`"error.${code}":`), `en lacks error.${code}`);
  }
});

Deno.test("Accept-Language: the first of ru and en by preference, else none", () => {
  const cases: [string | null, "ru" | "en" | null][] = [
    [null, null],
    ["", null],
    ["en", "en"],
    ["en-US,en;q=0.9,ru;q=0.8", "en"],
    ["ru-KZ", "ru"],
    ["de-DE,en;q=0.5", "en"],
    ["de-DE,fr", null],
    ["en;q=0, ru", "ru"],
    ["en;q=0.3, ru;q=0.7", "ru"],
    ["*", null],
  ];
  for (const [header, expected] of cases) assert.equal(acceptedLanguage(header), expected, String(header));
});

Deno.test("every text is an ICU message that formats, and plurals agree with their count", async () => {
  const { IntlMessageFormat } = await import("intl-messageformat");
  const { ru } = await import("../web/src/texts/ru.ts");
  const { en } = await import("../web/src/texts/en.ts");
  for (const [language, texts] of [["ru", ru], ["en", en]] as const) {
    for (const [key, text] of Object.entries(texts)) {
      assert.doesNotThrow(() => new IntlMessageFormat(text, language), `${language} ${key}`);
    }
  }
  const progress = (total: number) =>
    new IntlMessageFormat(ru["dashboard.progress"], "ru").format({ done: 1, total, percentage: "1 %" });
  assert.equal(progress(1), "Пройдено 1 из 1 урока · 1 %");
  assert.equal(progress(3), "Пройдено 1 из 3 уроков · 1 %");
  assert.equal(progress(21), "Пройдено 1 из 21 урока · 1 %");
  assert.equal(
    new IntlMessageFormat(en["dashboard.progress"], "en").format({ done: 1, total: 1, percentage: "1%" }),
    "1 of 1 lesson done · 1%",
  );
});

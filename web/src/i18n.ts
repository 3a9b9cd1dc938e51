/// <reference lib="dom" />
/**
 * The reader's language and what is written in it: the texts (texts/ru.ts, the academy's language and the default,
 * and texts/en.ts) through `t(key)` with `{name}` placeholders, and numbers, money and dates through Intl. The
 * choice is kept in localStorage and set as <html lang>.
 */
import { IntlMessageFormat } from "intl-messageformat";
import { en } from "./texts/en.ts";
import { ru, type TextKey } from "./texts/ru.ts";

export type { TextKey };

export const languages = { ru, en } as const;
export type Language = keyof typeof languages;

let language: Language = localStorage.getItem("tripwire.language") === "en" ? "en" : "ru";
document.documentElement.lang = language;

export function currentLanguage(): Language {
  return language;
}

export function setLanguage(next: Language): void {
  language = next;
  localStorage.setItem("tripwire.language", next);
  document.documentElement.lang = next;
}

/** Whether the catalogue has `key` (an error code the API sent, say). */
export function hasText(key: string): key is TextKey {
  return key in languages[language];
}

const formats = new Map<string, IntlMessageFormat>();

/**
 * A text in the reader's language, an ICU message (FormatJS's intl-messageformat, with Intl.PluralRules):
 * `{name}` placeholders, and plurals where a count changes the words («из 1 урока», «из 5 уроков»).
 */
export function t(key: TextKey, params: Record<string, string | number> = {}): string {
  const id = `${language}:${key}`;
  let format = formats.get(id);
  if (!format) formats.set(id, format = new IntlMessageFormat(languages[language][key], locales[language]));
  return String(format.format(params));
}

const locales: Record<Language, string> = { ru: "ru-RU", en: "en-GB" };

/**
 * An amount with its currency, as the reader's language writes it ("4 990 ₸", "KZT 4,990"): Russian with the
 * currency's sign, as prices are written in Kazakhstan and Russia; English with the ISO code, since "₸4,990"
 * reads as nothing to most English readers. Every amount the API answers comes with the academy's ISO 4217
 * currency; display only, so a decimal string may go through Number here (two decimals print exactly).
 */
export function formatMoney(amount: number | string, currency: string): string {
  return new Intl.NumberFormat(locales[language], {
    style: "currency",
    currency,
    currencyDisplay: language === "ru" ? "narrowSymbol" : "code",
    minimumFractionDigits: 0,
    maximumFractionDigits: 2,
  }).format(Number(amount));
}

/** A number as the reader's language writes it: a percentage when `style` says so (0.05 → «5 %»). */
export function formatNumber(value: number, style: "decimal" | "percent" = "decimal"): string {
  return new Intl.NumberFormat(locales[language], { style, maximumFractionDigits: 1 }).format(value);
}

export function formatDate(iso: string | null): string {
  return iso
    ? new Date(iso).toLocaleString(locales[language], { dateStyle: "medium", timeStyle: "short" })
    : "—";
}

/** Calendar days ("2026-12-07", the academy's days) as the reader's language writes them. */
const dayFormat = () => new Intl.DateTimeFormat(locales[language], { dateStyle: "medium", timeZone: "UTC" });
const dayOf = (day: string) => new Date(`${day}T00:00:00Z`);

/** One day: «7 дек. 2026 г.», "7 Dec 2026". */
export function formatDay(day: string): string {
  return dayFormat().format(dayOf(day));
}

/** Two days as one range: «8 нояб. – 7 дек. 2026 г.», "8 Nov – 7 Dec 2026". */
export function formatDayRange(from: string, to: string): string {
  return dayFormat().formatRange(dayOf(from), dayOf(to));
}

/**
 * How long ago, as the reader's language says it: «3 дня назад», "yesterday", "5 minutes ago" — with the exact
 * time kept for a `title`. "—" for never.
 */
export function formatAgo(iso: string | null, now = Date.now()): string {
  if (!iso) return "—";
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const units: [Intl.RelativeTimeFormatUnit, number][] = [
    ["year", 365 * 86_400],
    ["month", 30 * 86_400],
    ["week", 7 * 86_400],
    ["day", 86_400],
    ["hour", 3_600],
    ["minute", 60],
  ];
  const format = new Intl.RelativeTimeFormat(locales[language], { numeric: "auto" });
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return format.format(Math.round(seconds / size), unit);
  }
  return format.format(0, "minute");
}

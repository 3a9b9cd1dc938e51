/**
 * A phone as people write it, read with libphonenumber-js (Google's numbering rules, each country's number patterns)
 * into E.164. One reading for the functions (phone.ts) and the web app (web/src/phone.ts): no zod, no configuration.
 */
import { type CountryCode, parsePhoneNumberFromString } from "libphonenumber-js/max";

/** Digits and the marks people put between them; never letters. */
const phoneCharacters = /^\+?[0-9\s().-]+$/;

/** `text` as E.164 when it is a number the rules of `country` (or its own country code) allow, else null. */
export function toE164(text: string, country: string): string | null {
  if (!phoneCharacters.test(text)) return null;
  const parsed = parsePhoneNumberFromString(text, country as CountryCode);
  return parsed?.isValid() ? parsed.number : null;
}

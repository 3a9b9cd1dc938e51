/// <reference lib="dom" />
/**
 * Phones in the web app, read and shown with the library the functions use (libphonenumber-js): what a manager
 * types in any common writing becomes E.164 before it is sent, and a stored number is shown as people of the
 * academy's country write it (`8 (701) 123 4567`), another country's with its code (`+44 20 7946 0958`).
 */
import { type CountryCode, parsePhoneNumberFromString } from "libphonenumber-js/max";
import { toE164 } from "../../supabase/functions/_domain/e164.ts";

/** The academy's country: `<meta name="tripwire-country">`, as the functions' ACADEMY_COUNTRY. */
const academyCountry = (document.querySelector<HTMLMetaElement>('meta[name="tripwire-country"]')?.content ||
  "KZ") as CountryCode;

/** What was typed as E.164, or null when it is not a number anyone could call (the functions' own reading). */
export function phoneToE164(text: string): string | null {
  return toE164(text.trim(), academyCountry);
}

/** A stored (E.164) number as the reader would dial it. */
export function formatPhone(e164: string | null): string {
  if (!e164) return "—";
  const parsed = parsePhoneNumberFromString(e164);
  if (!parsed) return e164;
  return parsed.country === academyCountry ? parsed.formatNational() : parsed.formatInternational();
}

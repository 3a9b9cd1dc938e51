/** Rules for input that more than one route takes, stated once. */
import { z } from "zod";

/** Text a person typed that may hold no control characters (names, reasons). */
export const noControlCharacters = /^[^\p{Cc}]*$/u;

/**
 * Free text a person typed (a reason): trimmed, NFC, well-formed Unicode (no lone surrogate), no control
 * characters, `min`–`max` characters.
 */
export function typedText(min: number, max: number) {
  return z.string().transform((text) => text.normalize("NFC").trim())
    .pipe(
      z.string().min(min).max(max)
        .refine((text) => text.isWellFormed(), "must be well-formed Unicode (no lone surrogate)")
        .regex(noControlCharacters, "no control characters"),
    );
}

/**
 * A person's name as it is stored and printed on a certificate: typed text of 1–200 characters with at
 * least one letter, so a name of spaces or zero-width characters alone is refused.
 */
export const personName = typedText(1, 200).refine(
  (name) => /\p{L}/u.test(name),
  "must contain a letter",
);

/** A calendar date or time Postgres can hold: no year 0000 (there is none). */
export function isStorableYear(text: string): boolean {
  return !text.startsWith("0000");
}

/** The largest amount a numeric(12, 2) column holds. */
export const maxMoneyAmount = 9_999_999_999.99;

/** A money amount as a JSON number: finite, at most `maxMoneyAmount`, at most two decimals. */
export const moneyNumber = z.number().finite().max(maxMoneyAmount).refine(
  (amount) => Math.abs(amount * 100 - Math.round(amount * 100)) < 1e-6,
  "at most two decimals",
);

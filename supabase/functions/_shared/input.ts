/** Rules for input that more than one route takes, stated once. */
import { z } from "zod";

/** Text a person typed that may hold no control characters (names, reasons). */
export const noControlCharacters = /^[^\p{Cc}]*$/u;

/** The largest amount a numeric(12, 2) column holds. */
export const maxMoneyAmount = 9_999_999_999.99;

/** A money amount as a JSON number: finite, at most `maxMoneyAmount`, at most two decimals. */
export const moneyNumber = z.number().finite().max(maxMoneyAmount).refine(
  (amount) => Math.abs(amount * 100 - Math.round(amount * 100)) < 1e-6,
  "at most two decimals",
);

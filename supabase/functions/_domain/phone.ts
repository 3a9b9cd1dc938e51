/**
 * Phone numbers as people write them — `+7 701 123 45 67`, `87011234567`, `+7 (701) 123-45-67`,
 * `8-701-123-45-67` — read (e164.ts) in the academy's country (ACADEMY_COUNTRY) when written without a country
 * code, and kept as E.164 (`+77011234567`). The web app reads them with the same function.
 */
import { z } from "zod";
import { config } from "../_shared/config.ts";
import { toE164 } from "./e164.ts";

/** How to write a number the rules refuse, said with the field's error. */
export const phoneHelp =
  "write it as dialled in the academy's country (8 701 123 45 67) or with its country code (+7 701 123 45 67)";

/** A phone in any common writing → E.164; an empty one → null. */
export const phoneNumber = z.string().trim().max(40, `too long for a phone number: ${phoneHelp}`)
  .transform((text, context) => {
    if (!text) return null;
    const e164 = toE164(text, config().academyCountry);
    if (!e164) {
      context.addIssue({ code: "custom", message: `not a phone number we can call: ${phoneHelp}` });
      return z.NEVER;
    }
    return e164;
  })
  .meta({
    description:
      "As people write it (`8 701 123 45 67`, `+7 (701) 123-45-67`): a number without its country " +
      "code is read as the academy's country's (ACADEMY_COUNTRY). Kept and answered in E.164 (`+77011234567`).",
    example: "+7 701 123 45 67",
  });

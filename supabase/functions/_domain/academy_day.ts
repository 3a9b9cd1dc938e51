/**
 * The academy's calendar. Its days begin at midnight in its time zone (`academy.settings.time_zone`,
 * Asia/Almaty by default), not in UTC: a sale at 20:00 UTC is on the next day in Almaty. Every "today" the
 * web app, the functions and the tests name comes from here (the SQL says the same with
 * `now() at time zone time_zone`), so nothing depends on the time zone of the machine that runs it.
 */

/** A new academy's time zone (the default of `academy.settings.time_zone`); an admin may set another. */
export const defaultTimeZone = "Asia/Almaty";

/** The academy's day (YYYY-MM-DD) at an instant, in `timeZone` (an IANA name). */
export function academyDay(timeZone: string, at: Date = new Date()): string {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).formatToParts(at);
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((each) => each.type === type)!.value;
  return `${part("year")}-${part("month")}-${part("day")}`;
}

/** The day `days` after (or, negative, before) a YYYY-MM-DD day. */
export function addDays(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

/** The offset of `timeZone` from UTC at an instant, in milliseconds (Almaty: +5 h). */
function offsetAt(timeZone: string, at: Date): number {
  const name = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "longOffset" })
    .formatToParts(at).find((part) => part.type === "timeZoneName")!.value;
  const [, sign, hours, minutes] = name.match(/^GMT(?:([+-])(\d{2}):(\d{2}))?$/)!;
  return sign ? (sign === "-" ? -1 : 1) * (Number(hours) * 60 + Number(minutes)) * 60_000 : 0;
}

/** The instant a YYYY-MM-DD day of the academy's begins: its midnight in `timeZone`. */
export function academyMidnight(timeZone: string, day: string): Date {
  const utcMidnight = Date.parse(`${day}T00:00:00Z`);
  const guess = utcMidnight - offsetAt(timeZone, new Date(utcMidnight));
  // Where the offset changed between the two instants (daylight saving), the second reading is the day's.
  return new Date(utcMidnight - offsetAt(timeZone, new Date(guess)));
}

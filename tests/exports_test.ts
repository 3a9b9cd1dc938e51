import assert from "node:assert/strict";
import { aida, daniyar, saule } from "./support/fixtures.ts";
import { enrol } from "./support/learning.ts";
import { expectError } from "./support/responses.ts";
import { appDatabase, callAs, story } from "./support/server.ts";
import { newStudentBody, postStudent } from "./support/students.ts";
import { csvCell, csvLine } from "../supabase/functions/_shared/csv.ts";
import { academyToday } from "../supabase/functions/students/exports.ts";
import { academyDay, academyMidnight, addDays } from "../supabase/functions/_domain/academy_day.ts";

const sql = appDatabase.sql;

/** RFC 4180, as a spreadsheet reads it: quoted cells, doubled quotes, CRLF lines. */
function parseCsv(text: string, separator = ","): Record<string, string>[] {
  assert.ok(text.startsWith("\uFEFF"), "a BOM, so spreadsheets read UTF-8");
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  const body = text.slice(1);
  for (let i = 0; i < body.length; i++) {
    const char = body[i];
    if (quoted) {
      if (char === '"' && body[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"' && cell === "") quoted = true; // as Excel: a quote opens only a cell's start
    else if (char === separator) {
      row.push(cell);
      cell = "";
    } else if (char === "\r" && body[i + 1] === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
      i++;
    } else cell += char;
  }
  assert.equal(row.length + cell.length, 0, "the last line ends with CRLF");
  const [header, ...data] = rows;
  return data.map((cells) => Object.fromEntries(header.map((name, index) => [name, cells[index]])));
}

async function download(userId: string, path: string) {
  const response = await callAs(userId, path);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/csv; charset=utf-8");
  assert.match(
    response.headers.get("content-disposition")!,
    /^attachment; filename="\w+-\d{4}-\d{2}-\d{2}\.csv"$/,
  );
  assert.equal(response.headers.get("cache-control"), "no-store");
  // Decoded keeping the BOM (Response.text() drops it).
  return parseCsv(new TextDecoder("utf-8", { ignoreBOM: true }).decode(await response.arrayBuffer()));
}

story("Aida exports her students as the list filters them; a name cannot run as a formula", async () => {
  const marker = `Exp${crypto.randomUUID().slice(0, 6)}`;
  const hostile = `=HYPERLINK("http://evil.example","Bolat ${marker}")`;
  const created = await postStudent(aida.id, newStudentBody(hostile, { send_welcome_email: false }));
  assert.equal(created.status, 201);
  const dana = await enrol(`Dana ${marker}`);
  await postStudent(daniyar.id, newStudentBody(`Erlan ${marker}`, { send_welcome_email: false }));

  const rows = await download(aida.id, `students/export.csv?q=${marker}`);
  assert.equal(rows.length, 2, "Aida's two, not Daniyar's Erlan");
  const bolat = rows.find((row) => row.full_name.includes("HYPERLINK"))!;
  assert.equal(bolat.full_name, `'${hostile}`, "the formula is neutralised, the text kept");
  assert.equal(bolat.manager_id, aida.id);
  assert.equal(bolat.payment_amount, "490.00");
  assert.equal(bolat.status, "active");
  assert.equal(bolat.stage, "not_started");
  const danaRow = rows.find((row) => row.id === dana.id)!;
  assert.equal(danaRow.full_name, `Dana ${marker}`);

  // The same filters as the list: the list's page and the export name the same students, in the same order.
  const list = await (await callAs(aida.id, `students?q=${marker}&sort=idle_longest`)).json();
  const sorted = await download(aida.id, `students/export.csv?q=${marker}&sort=idle_longest`);
  assert.deepEqual(sorted.map((row) => row.id), list.students.map((student: { id: string }) => student.id));

  await expectError(
    await callAs(aida.id, `students/export.csv?manager_id=${daniyar.id}`),
    403,
    "forbidden",
  );
  await expectError(await callAs(aida.id, "students/export.csv?status=gone"), 400, "validation_failed");
  // The admin sees everyone's: as many rows as students.
  const everyone = await download(saule.id, "students/export.csv");
  const [{ students }] = await sql`select count(*)::int as students from public.tripwire_users`;
  assert.equal(everyone.length, students);
});

story(
  "the sales export is the books: sales on their day, refunds negative on theirs, adding up",
  async () => {
    const marker = `Sales${crypto.randomUUID().slice(0, 6)}`;
    const bolat = await enrol(`Bolat ${marker}`);
    await callAs(aida.id, `students/${bolat.id}/refund`, {
      amount: 90.5,
      reason: "+1 formula-looking reason",
    });
    const today = await academyToday(sql);
    const rows = (await download(aida.id, `students/sales.csv?from=${today}&to=${today}`))
      .filter((row) => row.student_id === bolat.id);
    assert.deepEqual(rows.map((row) => [row.kind, row.amount]), [["sale", "490.00"], ["refund", "-90.50"]]);
    assert.equal(rows[1].reason, "'+1 formula-looking reason");
    assert.equal(rows[0].manager_id, aida.id);

    // Every sale and refund of Aida's, summed, is her net revenue.
    const all = await download(aida.id, "students/sales.csv");
    const [{ net }] = await sql`
    select (select coalesce(sum(payment_amount), 0) from public.tripwire_users where granted_by = ${aida.id})
         - (select coalesce(sum(r.amount), 0) from public.student_refunds r
            join public.tripwire_users t on t.user_id = r.user_id where t.granted_by = ${aida.id}) as net`;
    const total = all.reduce((sum, row) => sum + Math.round(Number(row.amount) * 100), 0) / 100;
    assert.equal(total.toFixed(2), Number(net).toFixed(2));
    assert.ok(all.every((row) => row.manager_id === aida.id));

    const past = await download(aida.id, "students/sales.csv?to=2000-01-01");
    assert.equal(past.length, 0);
    await expectError(await callAs(aida.id, "students/sales.csv?from=06.12.2026"), 400, "validation_failed");
  },
);

story(
  "the academy's midnight, not UTC's, divides its days: a sale a minute after it is today's, one before it yesterday's",
  async () => {
    const [{ time_zone: timeZone }] = await sql<
      { time_zone: string }[]
    >`select time_zone from academy.settings`;
    const today = academyDay(timeZone);
    const yesterday = addDays(today, -1);
    const midnight = academyMidnight(timeZone, today);
    const marker = `Mid${crypto.randomUUID().slice(0, 6)}`;
    const early = await enrol(`Early ${marker}`);
    const late = await enrol(`Late ${marker}`);
    await sql`update public.tripwire_users set created_at = ${new Date(midnight.getTime() + 60_000)}
              where user_id = ${early.id}`;
    await sql`update public.tripwire_users set created_at = ${new Date(midnight.getTime() - 60_000)}
              where user_id = ${late.id}`;
    const ours = (rows: Record<string, string>[]) =>
      rows.filter((row) => row.student_name.endsWith(marker)).map((row) => [row.student_name, row.day]);

    assert.deepEqual(ours(await download(aida.id, `students/sales.csv?from=${today}&to=${today}`)), [
      [`Early ${marker}`, today],
    ]);
    assert.deepEqual(ours(await download(aida.id, `students/sales.csv?from=${yesterday}&to=${yesterday}`)), [
      [`Late ${marker}`, yesterday],
    ]);
    const saved = (await callAs(aida.id, "students/sales.csv?to=2000-01-01")).headers.get(
      "content-disposition",
    );
    assert.equal(saved, `attachment; filename="sales-${today}.csv"`);
    // The answers that name days say which one is today, so no client computes it from its own clock.
    const chart = await (await callAs(aida.id, "leaderboard/chart")).json();
    assert.equal(chart.today, today);
    assert.equal(chart.to, today);
    assert.equal(chart.from, addDays(today, -29));
  },
);

Deno.test("the academy's day at an instant: Almaty's midnight is 19:00 UTC; daylight saving moves midnights", () => {
  assert.equal(academyDay("Asia/Almaty", new Date("2026-12-06T18:59:59Z")), "2026-12-06");
  assert.equal(academyDay("Asia/Almaty", new Date("2026-12-06T19:00:00Z")), "2026-12-07");
  assert.equal(academyDay("UTC", new Date("2026-12-06T19:00:00Z")), "2026-12-06");
  assert.equal(academyDay("America/New_York", new Date("2026-12-07T03:00:00Z")), "2026-12-06");
  assert.equal(academyMidnight("Asia/Almaty", "2026-12-07").toISOString(), "2026-12-06T19:00:00.000Z");
  assert.equal(academyMidnight("Asia/Kolkata", "2026-12-07").toISOString(), "2026-12-06T18:30:00.000Z");
  assert.equal(academyMidnight("UTC", "2026-12-07").toISOString(), "2026-12-07T00:00:00.000Z");
  // Berlin's clocks go forward on 2026-03-29 (at 02:00) and back on 2026-10-25 (at 03:00).
  assert.equal(academyMidnight("Europe/Berlin", "2026-03-29").toISOString(), "2026-03-28T23:00:00.000Z");
  assert.equal(academyMidnight("Europe/Berlin", "2026-03-30").toISOString(), "2026-03-29T22:00:00.000Z");
  assert.equal(academyMidnight("Europe/Berlin", "2026-10-26").toISOString(), "2026-10-25T23:00:00.000Z");
  assert.equal(addDays("2026-12-31", 1), "2027-01-01");
  assert.equal(addDays("2026-03-01", -1), "2026-02-28");
});

story("read with ',' or with ';' as the separator, no cell of an export starts like a formula", async () => {
  const marker = `Semi${crypto.randomUUID().slice(0, 6)}`;
  // A buyer controls a name through a paid order, a manager a refund's reason.
  const hostile = await enrol(`Ivan;=1+1;x ${marker}`);
  await callAs(aida.id, `students/${hostile.id}/refund`, { amount: 10, reason: "ok;=cmd|' /C calc'!A0" });
  await sql`update public.tripwire_users set phone = '+77011234567' where user_id = ${hostile.id}`;
  const formula = /^[=+\-@\t\r]/;
  const plainValue = /^(-?\d+(\.\d+)?|\+[1-9]\d{6,14})$/;
  for (const path of ["students/export.csv", "students/sales.csv"]) {
    const response = await callAs(aida.id, path);
    assert.equal(response.status, 200);
    const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(await response.arrayBuffer());
    for (const separator of [",", ";"]) {
      const rows = parseCsv(text, separator);
      const cells = rows.flatMap((row) => Object.values(row));
      const dangerous = cells.filter((cell) => formula.test(cell ?? "") && !plainValue.test(cell));
      assert.deepEqual(dangerous, [], `${path} read with '${separator}'`);
    }
    const row = parseCsv(text).find((each) => (each.full_name ?? each.student_name)?.endsWith(marker));
    assert.equal(
      row?.full_name ?? row?.student_name,
      `Ivan;'=1+1;x ${marker}`,
      "one cell, the formula after the semicolon neutralised",
    );
    if (path === "students/export.csv") assert.equal(row!.phone, "+77011234567", "a phone as CRMs import it");
  }
});

Deno.test("a CSV cell: quoted when it must be, formulas neutralised only in typed text", () => {
  assert.equal(csvCell("plain"), "plain");
  assert.equal(csvCell('say "hi", twice'), '"say ""hi"", twice"');
  assert.equal(csvCell("two\r\nlines"), '"two\r\nlines"');
  for (const start of ["=", "+", "-", "@", "\t", "\r"]) {
    assert.ok(csvCell(`${start}1+1`, true).replace(/^"/, "").startsWith(`'${start}`), JSON.stringify(start));
  }
  assert.equal(csvCell("-90.50"), "-90.50", "our own numbers stay numbers");
  assert.equal(csvCell("-90.50", true), "-90.50", "a plain number is not a formula");
  assert.equal(csvCell("+77011234567", true), "+77011234567", "a strict E.164 phone stays as it is");
  assert.equal(csvCell("+7701=1+1", true), "'+7701=1+1");
  // Excel in the ru and kk locales splits on ';' (and reads a quote only at a cell's start): a formula after one
  // is neutralised too.
  assert.equal(csvCell("Ivan;=1+1;x", true), `"Ivan;'=1+1;x"`);
  assert.equal(csvCell("a\tb"), '"a\tb"');
  assert.equal(csvCell(null), "");
  assert.equal(csvCell(new Date("2026-12-06T10:00:00Z")), "2026-12-06T10:00:00.000Z");
});

story("Postgres writes every cell exactly as csvCell does: the exports' two halves agree", async () => {
  const samples = [
    "plain",
    "",
    "Иван Петров",
    "=1+2",
    "+77011234567",
    "+7 701 123 45 67",
    "+7701=1+1",
    "-12.5",
    "-x",
    "@SUM(A1)",
    "\tTab",
    "\rCR",
    "a,=b",
    "Ivan;=1+1;x",
    "a;+b,-c",
    'say "hi", twice',
    "line\nbreak",
    "two\r\nlines",
    "a,b",
    "semi;colon",
    "'quoted",
    `=HYPERLINK("http://evil.example","x")`,
    "a\tb",
    null,
  ];
  const times = [new Date("2026-12-06T10:00:00.123Z"), null];
  const line = csvLine(sql, [
    { header: "value", sql: "v.value", typed: true },
    { header: "plain", sql: "v.plain" },
    { header: "at", sql: "v.at", time: true },
  ]);
  const rows = await sql<{ line: string; n: number }[]>`
    select ${line.sql} as line, v.n
    from (
      select s.ordinality::int as n, s.value, 'active' as plain, (${times[0]}::timestamptz) as at
      from jsonb_array_elements_text(${JSON.stringify(samples)}::text::jsonb) with ordinality as s
      union all
      select 0, 'x', null, null
    ) v
    ${line.typedValues}
    order by v.n`;
  const expected = [
    `x,,${csvCell(times[1])}\r\n`,
    ...samples.map((sample) => `${csvCell(sample, true)},active,${csvCell(times[0])}\r\n`),
  ];
  assert.deepEqual(rows.map((row) => row.line), expected);
});

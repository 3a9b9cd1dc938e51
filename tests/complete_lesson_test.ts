import assert from "node:assert/strict";
import { aida, insertStudent } from "./support/fixtures.ts";
import { complete, enrol, type TestStudent, watch } from "./support/learning.ts";
import { appDatabase, callFunction, story, tokenFor } from "./support/server.ts";
import { rowCounts } from "./support/students.ts";
import { expectJson } from "./support/responses.ts";

const sql = appDatabase.sql;

async function completed(student: TestStudent, lessonId: number) {
  return await expectJson(await complete(student, lessonId));
}

async function feed(studentId: string): Promise<string[]> {
  const rows = await sql`
    select event_type from public.sales_activity_log where student_id = ${studentId} order by id`;
  return rows.map((row) => row.event_type);
}

story("Bolat's whole course: lesson 67 → 68 → 69 → certificate, every table checked", async (t) => {
  const bolat = await enrol("Bolat Graduate");
  // deno-lint-ignore no-explicit-any
  let certificate: any;

  await t.step("lesson 67 watched to 81 %: module 16 completed, 17 unlocked, first_lesson", async () => {
    // Lesson 67 (600 s): watched to 81 %.
    await watch(sql, bolat, 67, 0, 486, 10);
    const result = await completed(bolat, 67);
    assert.equal(result.already_completed, false);
    assert.equal(result.watch_percentage, 81);
    assert.deepEqual(result.module, { id: 16, position: 1, completed: true });
    assert.equal(result.modules_completed, 1);
    assert.equal(result.total_modules, 3);
    assert.equal(result.completion_percentage, 33.33);
    assert.deepEqual(result.next_module, {
      id: 17,
      position: 2,
      title: result.next_module.title,
      unlocked: true,
    });
    assert.deepEqual(result.achievements, ["first_lesson"]);
    assert.equal(result.certificate, null);

    const [profile] = await sql`
      select p.current_module_id, p.modules_completed, p.completion_percentage,
             a.last_activity_at is not null as active
      from public.tripwire_user_profile p join private.student_activity a using (user_id)
      where p.user_id = ${bolat.id}`;
    assert.deepEqual({ ...profile }, {
      current_module_id: 17,
      modules_completed: 1,
      completion_percentage: "33.33",
      active: true,
    });
    const unlocks = await sql`
      select module_id, completed_at is not null as completed from public.tripwire_module_unlocks
      where user_id = ${bolat.id} order by module_id`;
    assert.deepEqual(unlocks.map((row) => ({ ...row })), [
      { module_id: 16, completed: true },
      { module_id: 17, completed: false },
    ]);
    const rows68 = await sql`
      select (select status from public.student_progress where user_id = ${bolat.id} and lesson_id = 68) as progress,
             (select status from public.video_tracking where user_id = ${bolat.id} and lesson_id = 68) as tracking,
             (select status from public.video_tracking where user_id = ${bolat.id} and lesson_id = 67) as tracking67`;
    assert.deepEqual({ ...rows68[0] }, {
      progress: "not_started",
      tracking: "not_started",
      tracking67: "completed",
    });
    const [statistics] = await sql`
      select lessons_completed, modules_completed, total_watch_seconds, achievements_unlocked
      from public.user_statistics where user_id = ${bolat.id}`;
    assert.deepEqual({ ...statistics }, {
      lessons_completed: 1,
      modules_completed: 1,
      total_watch_seconds: "486.00",
      achievements_unlocked: 1,
    });
    assert.deepEqual(await feed(bolat.id), ["user_created", "lesson_completed", "module_unlocked"]);
  });

  await t.step("lesson 68 watched fully: attentive viewer, and two modules make halfway", async () => {
    // Lesson 68 (720 s): watched fully, 100 % → attentive viewer; two modules → halfway.
    await watch(sql, bolat, 68, 0, 720, 10);
    const result = await completed(bolat, 68);
    assert.equal(result.modules_completed, 2);
    assert.deepEqual(result.achievements, ["first_lesson", "attentive_viewer", "halfway"]);
    assert.equal(result.next_module.id, 18);
  });

  await t.step("lesson 69 at exactly 80 %: the last module, graduate and the certificate", async () => {
    // Lesson 69 (900 s): 80 % exactly, the last module → graduate and the certificate.
    await watch(sql, bolat, 69, 0, 720, 10);
    const result = await completed(bolat, 69);
    assert.equal(result.modules_completed, 3);
    assert.equal(result.completion_percentage, 100);
    assert.equal(result.next_module, null);
    assert.deepEqual(result.achievements, ["first_lesson", "attentive_viewer", "halfway", "graduate"]);
    certificate = result.certificate;
    assert.match(certificate.certificate_number, new RegExp(`^TW-${new Date().getUTCFullYear()}-\\d{6,}$`));
    assert.equal(certificate.full_name, "Bolat Graduate");
    assert.deepEqual(certificate.course.modules.map((module: { id: number }) => module.id), [16, 17, 18]);
  });

  await t.step("at the end: profile, statistics, status and the selling manager's feed", async () => {
    const [profile] = await sql`
      select current_module_id, modules_completed, certificate_issued_at is not null as certified
      from public.tripwire_user_profile where user_id = ${bolat.id}`;
    assert.deepEqual({ ...profile }, { current_module_id: null, modules_completed: 3, certified: true });
    const [statistics] = await sql`
      select lessons_completed, modules_completed, total_watch_seconds, achievements_unlocked
      from public.user_statistics where user_id = ${bolat.id}`;
    assert.deepEqual({ ...statistics }, {
      lessons_completed: 3,
      modules_completed: 3,
      total_watch_seconds: "1926.00",
      achievements_unlocked: 4,
    });
    const [student] = await sql`select status from public.tripwire_users where user_id = ${bolat.id}`;
    assert.equal(student.status, "completed");
    assert.deepEqual(await feed(bolat.id), [
      "user_created",
      "lesson_completed",
      "module_unlocked",
      "lesson_completed",
      "module_unlocked",
      "lesson_completed",
      "certificate_issued",
    ]);
  });

  await t.step("anyone verifies the certificate without a token", async () => {
    const managers =
      await sql`select distinct manager_id from public.sales_activity_log where student_id = ${bolat.id}`;
    assert.deepEqual(managers.map((row) => row.manager_id), [aida.id], "the feed is the selling manager's");

    // Anyone with its link can verify it, without a token.
    assert.match(certificate.verification_code, /^[0-9a-f]{20}$/);
    const verified = await callFunction(
      `complete-lesson/certificate/${certificate.certificate_number}/${certificate.verification_code}`,
    );
    assert.equal(verified.status, 200);
    assert.deepEqual(await verified.json(), {
      valid: true,
      certificate_number: certificate.certificate_number,
      full_name: "Bolat Graduate",
      course: certificate.course,
      issued_at: certificate.issued_at,
      upgrade: null, // the academy set no main-course checkout here
    });

    // The course and its sentence in the academy's language; in English when asked.
    assert.equal(certificate.course.title, "Трипвайер: первые продажи");
    assert.equal(
      certificate.course.statement,
      "Настоящим подтверждается успешное прохождение курса «Трипвайер: первые продажи»: Bolat Graduate.",
    );
    const english = await callFunction(
      `complete-lesson/certificate/${certificate.certificate_number}/${certificate.verification_code}`,
      { headers: { "accept-language": "en" } },
    );
    assert.equal(english.headers.get("content-language"), "en");
    const { course } = await english.json();
    assert.equal(
      course.statement,
      "This certifies that Bolat Graduate has completed the course “Tripwire: first sales”.",
    );
    assert.deepEqual(course.modules.map((module: { title: string }) => module.title), [
      "Module 1. Where sales start",
      "Module 2. The conversation that sells",
      "Module 3. Closing and follow-up",
    ]);
  });
});

story("below the threshold → 422 with the current percentage; nothing changes", async () => {
  const dana = await enrol("Dana Hasty");
  await watch(sql, dana, 67, 0, 300, 10);
  const before = await rowCounts(sql);
  const response = await complete(dana, 67);
  const body = await response.json();
  assert.equal(response.status, 422);
  assert.equal(body.error.code, "watch_threshold_not_met");
  assert.deepEqual(body.error.details, { watch_percentage: 50, min_watch_percentage: 80 });
  assert.deepEqual(await rowCounts(sql), before);
  const [progress] =
    await sql`select status from public.student_progress where user_id = ${dana.id} and lesson_id = 67`;
  assert.equal(progress.status, "in_progress", "watching started it; the refusal left it so");
});

story("a locked lesson → 409, an unknown one → 404, a bad body → 400; nothing changes", async () => {
  const erlan = await enrol("Erlan Eager");
  const before = await rowCounts(sql);
  const locked = await complete(erlan, 69);
  assert.equal(locked.status, 409);
  assert.equal((await locked.json()).error.code, "lesson_locked");
  const unknown = await complete(erlan, 424242);
  assert.equal(unknown.status, 404);
  await unknown.body?.cancel();
  const bad = await callFunction("complete-lesson", {
    method: "POST",
    headers: { authorization: `Bearer ${erlan.token}`, "content-type": "application/json" },
    body: JSON.stringify({ lesson_id: 67, user_id: aida.id }),
  });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.details[0].path, "user_id");
  assert.deepEqual(await rowCounts(sql), before);
});

story("idempotent: a second call says already_completed; 10 concurrent calls complete once", async () => {
  const gulnara = await enrol("Gulnara Twice");
  await watch(sql, gulnara, 67, 0, 500, 10);
  const responses = await Promise.all(Array.from({ length: 10 }, () => complete(gulnara, 67)));
  const bodies = await Promise.all(responses.map((response) => response.json()));
  assert.deepEqual(
    responses.map((response) => response.status),
    Array(10).fill(200),
    JSON.stringify(bodies[0]),
  );
  assert.equal(bodies.filter((body) => body.already_completed === false).length, 1);
  const first = bodies.find((body) => !body.already_completed);
  for (const body of bodies) assert.deepEqual({ ...body, already_completed: false }, first);
  assert.deepEqual(await feed(gulnara.id), ["user_created", "lesson_completed", "module_unlocked"]);
  const [{ count }] = await sql`
    select count(*)::int from public.tripwire_module_unlocks where user_id = ${gulnara.id}`;
  assert.equal(count, 2);

  const again = await completed(gulnara, 67);
  assert.equal(again.already_completed, true);
  assert.deepEqual({ ...again, already_completed: false }, first);
});

story("10 concurrent completions of the last lesson: one certificate, one log entry", async () => {
  const timur = await enrol("Timur Finisher");
  await watch(sql, timur, 67, 0, 480, 20);
  await completed(timur, 67);
  await watch(sql, timur, 68, 0, 576, 20);
  await completed(timur, 68);
  await watch(sql, timur, 69, 0, 720, 20);
  const responses = await Promise.all(Array.from({ length: 10 }, () => complete(timur, 69)));
  const bodies = await Promise.all(responses.map((response) => response.json()));
  assert.deepEqual(responses.map((response) => response.status), Array(10).fill(200));
  assert.equal(new Set(bodies.map((body) => body.certificate.certificate_number)).size, 1);
  const [{ certificates }] =
    await sql`select count(*)::int as certificates from public.certificates where user_id = ${timur.id}`;
  assert.equal(certificates, 1);
  assert.equal((await feed(timur.id)).filter((event) => event === "certificate_issued").length, 1);
});

story("certificate check: a wrong code, an unknown or malformed number → the same 404, no name", async () => {
  const graduate = await insertStudent(sql, {
    managerId: aida.id,
    email: `graduate.${crypto.randomUUID().slice(0, 8)}@example.kz`,
    fullName: "Private Graduate",
  });
  const [issued] = await sql<{ certificate_number: string; verification_code: string }[]>`
    insert into public.certificates (user_id, certificate_number, full_name, course)
    values (${graduate.id}, format('TW-2026-%s', lpad(nextval('private.certificate_number_seq')::text, 6, '0')),
            'Private Graduate', private.course_snapshot())
    returning certificate_number, verification_code`;
  const wrongCode = issued.verification_code.replace(/^./, (first) => first === "a" ? "b" : "a");
  const answers = [];
  for (
    const path of [
      `${issued.certificate_number}/${wrongCode}`,
      `TW-2026-999999999/${issued.verification_code}`,
      `not-a-number/${issued.verification_code}`,
      `TW-2026-1%27%20or%201=1/${issued.verification_code}`,
      `${issued.certificate_number}/not-hex`,
    ]
  ) {
    const response = await callFunction(`complete-lesson/certificate/${path}`);
    assert.equal(response.status, 404, path);
    answers.push(await response.json());
  }
  assert.equal(new Set(answers.map((answer) => JSON.stringify(answer.error))).size, 1, "uniform misses");
  // The number alone, as sequential numbers once allowed, names nobody.
  const bare = await callFunction(`complete-lesson/certificate/${issued.certificate_number}`);
  assert.equal(bare.status, 404);
  await bare.body?.cancel();
});

story("the feed follows its reader: a lesson and a module named in the language asked for", async () => {
  const dana = await enrol("Dana Bilingual");
  await watch(sql, dana, 67, 0, 486, 10);
  await completed(dana, 67);
  const token = await tokenFor(aida.id);
  const titles: Record<string, string[]> = {};
  for (const language of ["en", "ru"]) {
    const answer = await expectJson(
      await callFunction(`students/${dana.id}`, {
        headers: { authorization: `Bearer ${token}`, "accept-language": language },
      }),
    );
    type FeedEvent = {
      event_type: string;
      student_id?: string;
      details: { lesson_title?: string; module_title?: string };
    };
    const title = (event: FeedEvent) => event.details.lesson_title ?? event.details.module_title;
    const named = (answer.activity as FeedEvent[]).filter((event) => event.event_type !== "user_created");
    titles[language] = named.map(title) as string[];
    const feed = await expectJson(
      await callFunction("leaderboard/activity?limit=50", {
        headers: { authorization: `Bearer ${token}`, "accept-language": language },
      }),
    );
    const mine = (feed.events as FeedEvent[]).filter((event) =>
      event.student_id === dana.id && event.event_type !== "user_created"
    );
    assert.deepEqual(mine.map(title).sort(), [...titles[language]].sort());
  }
  assert.deepEqual(
    titles.en.sort(),
    ["Lesson 1. Who buys and why", "Module 2. The conversation that sells"].sort(),
  );
  assert.ok(titles.ru.every((title) => /[А-Яа-я]/.test(title)), titles.ru.join());
});

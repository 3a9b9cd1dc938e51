import assert from "node:assert/strict";
import { aida, saule } from "./support/fixtures.ts";
import { complete, enrol, heartbeat, type TestStudent, watch } from "./support/learning.ts";
import { expectError, expectJson } from "./support/responses.ts";
import { appDatabase, callFunction, story, tokenFor } from "./support/server.ts";

const sql = appDatabase.sql;

function dashboard(token: string, headers: Record<string, string> = {}): Promise<Response> {
  return callFunction("student-dashboard", { headers: { authorization: `Bearer ${token}`, ...headers } });
}

const time = (value: Date | string | null) => value === null ? null : new Date(value).getTime();

/** The dashboard as the tables say it should be, read with plain queries (timestamps as epoch ms). */
async function fromTables(studentId: string, language: "ru" | "en" = "ru") {
  const [{ checkout }] = await sql`select main_course_checkout_url as checkout from academy.settings`;
  const [student] = await sql`
    select t.user_id as id, t.full_name, t.email, t.status, p.modules_completed, p.total_modules,
           p.completion_percentage, p.current_module_id, s.lessons_completed, a.last_activity_at,
           (select sum(v.watched_seconds) from public.video_tracking v where v.user_id = t.user_id) as watched,
           (select count(*)::int from public.tripwire_lessons) as total_lessons
    from public.tripwire_users t
    join public.tripwire_user_profile p on p.user_id = t.user_id
    join public.user_statistics s on s.user_id = t.user_id
    join private.student_activity a on a.user_id = t.user_id
    where t.user_id = ${studentId}`;
  const modules = await sql`
    select m.id, m.position, m.title, m.description,
           case when u.completed_at is not null then 'completed' when u.module_id is not null then 'unlocked'
                else 'locked' end as state
    from public.tripwire_modules m
    left join public.tripwire_module_unlocks u on u.module_id = m.id and u.user_id = ${studentId}
    order by m.position`;
  const lessons = await sql`
    select l.id, l.module_id, l.position, l.title, l.description, l.video_duration_seconds, l.video_path, l.min_watch_percentage,
           v.watch_percentage, v.qualified_at, v.status, v.last_position_seconds
    from public.tripwire_lessons l
    left join public.video_tracking v on v.lesson_id = l.id and v.user_id = ${studentId}
    order by l.position`;
  const achievements = await sql`
    select a.code, a.title, a.description, ua.unlocked_at
    from public.achievements a
    left join public.user_achievements ua on ua.achievement_code = a.code and ua.user_id = ${studentId}
    order by a.position`;
  const [certificate] = await sql`
    select certificate_number, issued_at from public.certificates where user_id = ${studentId}`;
  const [course] = await sql`select title, description from public.course`;
  // deno-lint-ignore no-explicit-any
  const text = (value: any) => value === null ? null : value[language];
  return {
    student: { id: student.id, full_name: student.full_name, email: student.email, status: student.status },
    access: ["refunded", "suspended"].includes(student.status)
      ? { allowed: false, reason: student.status }
      : { allowed: true, reason: null },
    course: { title: text(course.title), description: text(course.description) },
    progress: {
      lessons_completed: student.lessons_completed,
      total_lessons: student.total_lessons,
      modules_completed: student.modules_completed,
      total_modules: student.total_modules,
      completion_percentage: Number(student.completion_percentage),
      watched_seconds: Number(student.watched),
      current_module_id: student.current_module_id,
      last_activity_at: time(student.last_activity_at),
    },
    modules: modules.map((module) => ({
      id: module.id,
      position: module.position,
      title: text(module.title),
      description: text(module.description),
      state: module.state,
      lessons: lessons.filter((lesson) => lesson.module_id === module.id).map((lesson) => ({
        id: lesson.id,
        position: lesson.position,
        title: text(lesson.title),
        description: text(lesson.description),
        duration_seconds: lesson.video_duration_seconds,
        has_video: lesson.video_path !== null,
        min_watch_percentage: Number(lesson.min_watch_percentage),
        watch_percentage: Number(lesson.watch_percentage ?? 0),
        qualified: lesson.qualified_at !== null,
        status: lesson.status ?? "not_started",
        last_position_seconds: lesson.last_position_seconds === null
          ? null
          : Number(lesson.last_position_seconds),
      })),
    })),
    achievements: achievements.map((achievement) => ({
      ...achievement,
      title: text(achievement.title),
      description: text(achievement.description),
      unlocked_at: time(achievement.unlocked_at),
    })),
    certificate: certificate
      ? { certificate_number: certificate.certificate_number, issued_at: time(certificate.issued_at) }
      : null,
    // The main course is offered only through the academy's checkout; this file sets none (the offer and its
    // link: tests/main_course_test.ts).
    upgrade: checkout ? "not recounted here" : null,
  };
}

/** The answer with its timestamps as epoch ms, and the certificate's URL checked and set aside. */
// deno-lint-ignore no-explicit-any
function comparable(answer: any) {
  const { certificate } = answer;
  if (certificate) {
    // The page a person opens (locally the web app's), and the PDF beside the JSON check.
    assert.equal(
      certificate.verification_url,
      `http://127.0.0.1:54323/#/verify/${certificate.certificate_number}/${certificate.verification_code}`,
    );
    assert.equal(
      certificate.pdf_url,
      `${
        Deno.env.get("SUPABASE_URL")
      }/functions/v1/complete-lesson/certificate/${certificate.certificate_number}/${certificate.verification_code}/certificate.pdf`,
    );
  }
  return {
    ...answer,
    progress: { ...answer.progress, last_activity_at: time(answer.progress.last_activity_at) },
    // deno-lint-ignore no-explicit-any
    achievements: answer.achievements.map((achievement: any) => ({
      ...achievement,
      unlocked_at: time(achievement.unlocked_at),
    })),
    certificate: certificate
      ? { certificate_number: certificate.certificate_number, issued_at: time(certificate.issued_at) }
      : null,
  };
}

async function completeOk(student: TestStudent, lessonId: number) {
  await expectJson(await complete(student, lessonId));
}

story("Bolat's dashboard equals what the tables hold, after every step of his course", async (t) => {
  const bolat = await enrol("Bolat Dashboard");
  const check = async () => {
    const answer = await expectJson(await dashboard(bolat.token));
    assert.deepEqual(comparable(answer), await fromTables(bolat.id));
    return answer;
  };

  await t.step("just sold: module 1 unlocked, the rest locked, every achievement still locked", async () => {
    const answer = await check();
    assert.deepEqual(answer.modules.map((module: { state: string }) => module.state), [
      "unlocked",
      "locked",
      "locked",
    ]);
    assert.ok(answer.achievements.length > 0);
    assert.ok(
      answer.achievements.every((achievement: { unlocked_at: null }) => achievement.unlocked_at === null),
    );
    assert.equal(answer.modules[0].lessons[0].has_video, true);
    assert.equal(answer.certificate, null);
  });

  await t.step("half of lesson 67 watched: in progress, resumes where he stopped", async () => {
    await watch(sql, bolat, 67, 0, 300, 10);
    const answer = await check();
    const lesson = answer.modules[0].lessons[0];
    assert.equal(lesson.status, "in_progress");
    assert.equal(lesson.watch_percentage, 50);
    assert.equal(lesson.last_position_seconds, 300);
    assert.equal(lesson.qualified, false);
    // Watching shows before any completion: his watched seconds and his last activity follow it.
    assert.equal(answer.progress.watched_seconds, 300);
    assert.ok(answer.progress.last_activity_at !== null, "last activity follows watching");
  });

  await t.step("lesson 67 completed: module 1 completed, module 2 unlocked, first achievement", async () => {
    await watch(sql, bolat, 67, 300, 600, 10);
    await completeOk(bolat, 67);
    const answer = await check();
    assert.deepEqual(answer.modules.map((module: { state: string }) => module.state), [
      "completed",
      "unlocked",
      "locked",
    ]);
    assert.equal(answer.progress.lessons_completed, 1);
  });

  await t.step("the whole course: every module completed, the certificate with its public URL", async () => {
    await watch(sql, bolat, 68, 0, 720, 10);
    await completeOk(bolat, 68);
    await check();
    await watch(sql, bolat, 69, 0, 900, 10);
    await completeOk(bolat, 69);
    const answer = await check();
    assert.ok(answer.modules.every((module: { state: string }) => module.state === "completed"));
    assert.equal(answer.student.status, "completed");
    assert.equal(answer.progress.current_module_id, null);
    assert.equal(answer.progress.completion_percentage, 100);
    const verified = await callFunction(
      new URL(answer.certificate.pdf_url).pathname.replace("/functions/v1/", "").replace(
        /\/certificate\.pdf$/,
        "",
      ),
    );
    assert.equal((await expectJson(verified)).full_name, "Bolat Dashboard");
  });
});

story(
  "the dashboard carries an ETag: 304 while nothing changed, a new answer after a heartbeat",
  async () => {
    const dana = await enrol("Dana Dashboard");
    const answer = await dashboard(dana.token);
    const etag = answer.headers.get("etag")!;
    await answer.body?.cancel();
    assert.match(etag, /^"[A-Za-z0-9_-]+"$/);
    assert.equal(answer.headers.get("cache-control"), "private, no-cache");

    const unchanged = await dashboard(dana.token, { "if-none-match": etag });
    assert.equal(unchanged.status, 304);
    assert.equal(await unchanged.text(), "");

    // Playback starts (nothing watched yet, no position): the dashboard is as it was.
    await expectJson(await heartbeat(dana, { lesson_id: 67, segments: [] }));
    const stillUnchanged = await dashboard(dana.token, { "if-none-match": etag });
    assert.equal(stillUnchanged.status, 304);
    await stillUnchanged.body?.cancel();

    // Five seconds watched: a new answer.
    await expectJson(await heartbeat(dana, { lesson_id: 67, segments: [[0, 5]], position: 5 }));
    const changed = await dashboard(dana.token, { "if-none-match": etag });
    const after = await expectJson(changed);
    assert.equal(after.modules[0].lessons[0].last_position_seconds, 5);
    assert.notEqual(changed.headers.get("etag"), etag);
  },
);

story("only a student has a dashboard: staff and strangers 403, no token 401", async () => {
  await expectError(await dashboard(await tokenFor(aida.id)), 403, "forbidden");
  await expectError(await dashboard(await tokenFor(saule.id)), 403, "forbidden");
  await expectError(await dashboard(await tokenFor(crypto.randomUUID())), 403, "forbidden");
  await expectError(await callFunction("student-dashboard"), 401, "missing_token");
});

story("the course speaks the caller's language: Accept-Language, else the academy's", async (t) => {
  const aliya = await enrol("Aliya Bilingual");

  await t.step("no Accept-Language: the academy's language (Russian), every text", async () => {
    const response = await dashboard(aliya.token);
    assert.equal(response.headers.get("content-language"), null, "nothing was chosen");
    assert.match(response.headers.get("vary") ?? "", /Accept-Language/i);
    assert.deepEqual(comparable(await expectJson(response)), await fromTables(aliya.id, "ru"));
  });

  await t.step("en-US,en;q=0.9: English, said in Content-Language", async () => {
    const response = await dashboard(aliya.token, { "accept-language": "en-US,en;q=0.9,ru;q=0.5" });
    assert.equal(response.headers.get("content-language"), "en");
    const answer = await expectJson(response);
    assert.deepEqual(comparable(answer), await fromTables(aliya.id, "en"));
    assert.equal(answer.course.title, "Tripwire: first sales");
    assert.equal(answer.modules[0].lessons[0].title, "Lesson 1. Who buys and why");
  });

  await t.step("a language we do not have, or ru preferred: Russian", async () => {
    for (const header of ["de-DE", "ru-KZ,en;q=0.8", "en;q=0, ru"]) {
      const answer = await expectJson(await dashboard(aliya.token, { "accept-language": header }));
      assert.equal(answer.course.title, "Трипвайер: первые продажи", header);
    }
  });

  await t.step("the ETag differs by language, so a cache never serves the other one", async () => {
    const ru = await dashboard(aliya.token, { "accept-language": "ru" });
    const en = await dashboard(aliya.token, { "accept-language": "en" });
    assert.notEqual(ru.headers.get("etag"), en.headers.get("etag"));
    await ru.body?.cancel();
    await en.body?.cancel();
  });
});

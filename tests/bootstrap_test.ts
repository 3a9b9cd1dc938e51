/**
 * Day one on a real project: `npm run bootstrap` loads the course from its content file and creates the first
 * admin — through Supabase Auth's admin API (the local stand-in, answering as GoTrue does), with a secret key or a
 * legacy service_role key — and running it again changes nothing.
 */
import assert from "node:assert/strict";
import { createMigratedDatabase } from "./support/database.ts";
import { SignJWT } from "jose";
import { startAuthFor } from "./support/auth_server.ts";

const serviceKey = "sb_secret_bootstrap_test";
const jwtSecret = "bootstrap-test-jwt-secret-with-32-characters";

async function bootstrap(env: Record<string, string>, email: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "scripts/bootstrap.ts", "--admin", email, "--name", "First Admin"],
    cwd: new URL("../", import.meta.url).pathname,
    // Only what is given: this process's own settings (the tests' LOCAL_STACK, DATABASE_URL) must not leak in.
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  assert.equal(output.success, true, text + new TextDecoder().decode(output.stderr));
  return text;
}

/** A legacy service_role key: a JWT signed with the project's JWT secret. */
const serviceRoleJwt = await new SignJWT({ role: "service_role" })
  .setProtectedHeader({ alg: "HS256", typ: "JWT" })
  .setIssuedAt()
  .sign(new TextEncoder().encode(jwtSecret));

const keyModes = {
  "secret key": { SUPABASE_SECRET_KEYS: JSON.stringify({ default: serviceKey }) },
  "legacy service_role key": { SUPABASE_SERVICE_ROLE_KEY: serviceRoleJwt },
};

for (const [mode, key] of Object.entries(keyModes)) {
  Deno.test(`npm run bootstrap (${mode}): the course and the first admin, once`, async () => {
    const database = await createMigratedDatabase();
    const auth = await startAuthFor(database.url, { jwtSecret, secretKeys: [serviceKey] });
    const env: Record<string, string> = { DATABASE_URL: database.url, SUPABASE_URL: auth.url, ...key };
    const email = `first.admin.${mode.replaceAll(" ", ".").replaceAll("_", "")}@academy.kz`;
    try {
      const first = await bootstrap(env, email);
      assert.match(first, /course: 3 modules, 3 lessons/);
      const password = first.match(/^password: (\S+)$/m)?.[1];
      assert.match(password ?? "", /^[A-Za-z0-9]{20}$/);
      const [admin] = await database.sql`
        select u.role, a.email as login, a.encrypted_password = extensions.crypt(${password!}, a.encrypted_password)
                 as password_matches
        from public.users u join auth.users a on a.id = u.id where u.email = ${email}`;
      assert.deepEqual({ ...admin }, { role: "admin", login: email, password_matches: true });
      assert.ok(
        auth.requests.some((request) => request.method === "POST" && request.path === "/auth/v1/admin/users"),
      );
      // The course in both languages, from the content file, with its videos' paths in the bucket.
      const lessons = await database.sql`
        select l.id, l.title, l.description, l.video_duration_seconds, l.video_path
        from public.tripwire_lessons l order by l.id`;
      assert.deepEqual(lessons.map((lesson) => lesson.id), [67, 68, 69]);
      assert.deepEqual(lessons[0].title, {
        ru: "Урок 1. Кто покупает и почему",
        en: "Lesson 1. Who buys and why",
      });
      assert.ok(lessons[0].description.ru && lessons[0].description.en);
      assert.equal(lessons[2].video_duration_seconds, 900);
      assert.equal(lessons[0].video_path, "lesson-67.webm");
      const [course] = await database.sql`select title, certificate_text from public.course`;
      assert.deepEqual(course.title, { ru: "Трипвайер: первые продажи", en: "Tripwire: first sales" });
      const achievements = await database.sql`select code, title from public.achievements order by position`;
      assert.equal(achievements[0].title.ru, "Первый шаг");

      const again = await bootstrap(env, email);
      assert.match(again, /exists already \(admin\); nothing changed/);
      assert.doesNotMatch(again, /password:/);
      const [{ admins }] = await database
        .sql`select count(*)::int as admins from public.users where email = ${email}`;
      assert.equal(admins, 1);
    } finally {
      await auth.close();
      await database.drop();
    }
  });
}

/**
 * `npm run token -- <email>`: prints a JWT for a user of the local stack, signed with the local
 * development secret only (a deployed project never accepts it). It reads the user from the stack's database:
 * DATABASE_URL if set, else the embedded one on LOCAL_DB_PORT (54322) — the same variables `npm start` got.
 */
import postgres from "postgres";
import { databasePort, localDatabaseUrl, signLocalToken } from "./lib/local_stack.ts";

/** Why the stack's database did not answer, and what to do about it. */
function unreachable(error: unknown): string {
  const given = Deno.env.get("DATABASE_URL");
  const where = given ? "DATABASE_URL" : `the local stack's Postgres on 127.0.0.1:${databasePort}`;
  return `Cannot reach ${where} (${error instanceof Error ? error.message : error}). Start the stack with ` +
    "`npm start`; if it was started with LOCAL_DB_PORT or DATABASE_URL, give this command the same " +
    "(npm start prints the exact line when it is ready).";
}

if (import.meta.main) {
  const email = Deno.args[0]?.toLowerCase();
  if (!email) {
    console.error("usage: npm run token -- <email>");
    Deno.exit(2);
  }
  const sql = postgres(Deno.env.get("DATABASE_URL") ?? localDatabaseUrl, {
    max: 1,
    onnotice: () => {},
    connect_timeout: 5,
  });
  try {
    const [user] = await sql<{ id: string; email: string }[]>`
      select id, email from public.users where email = ${email}`.catch((error) => {
      console.error(unreachable(error));
      Deno.exit(1);
    });
    if (!user) {
      console.error(`No user ${email}. Seeded: saule.admin@, aida.manager@, daniyar.manager@tripwire.local`);
      Deno.exit(1);
    }
    console.log(await signLocalToken(sql, user));
  } finally {
    await sql.end();
  }
}

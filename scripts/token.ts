/**
 * `npm run token -- <email>`: prints a JWT for a user of the local stack, signed with the local
 * development secret only (a deployed project never accepts it).
 */
import postgres from "postgres";
import { localDatabaseUrl, signLocalToken } from "./lib/local_stack.ts";

if (import.meta.main) {
  const email = Deno.args[0]?.toLowerCase();
  if (!email) {
    console.error("usage: npm run token -- <email>");
    Deno.exit(2);
  }
  const sql = postgres(Deno.env.get("DATABASE_URL") ?? localDatabaseUrl, { max: 1, onnotice: () => {} });
  try {
    const [user] = await sql<{ id: string; email: string }[]>`
      select id, email from public.users where email = ${email}`;
    if (!user) {
      console.error(`No user ${email}. Seeded: saule.admin@, aida.manager@, daniyar.manager@tripwire.local`);
      Deno.exit(1);
    }
    console.log(await signLocalToken(user));
  } finally {
    await sql.end();
  }
}

/**
 * `npm run token -- <email>`: prints a JWT for a user of the local stack, signed with the local
 * development secret only (a deployed project never accepts it).
 */
import { SignJWT } from "jose";
import postgres from "postgres";
import { localDatabaseUrl, localJwtSecret } from "./lib/local_stack.ts";

/** Signs a token shaped like one Supabase Auth issues for a signed-in user. */
export async function signLocalToken(
  user: { id: string; email: string },
  options: { expiresIn?: string; secret?: string } = {},
): Promise<string> {
  return await new SignJWT({ email: user.email, role: "authenticated", aal: "aal1" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(user.id)
    .setAudience("authenticated")
    .setIssuer("http://127.0.0.1:54321/auth/v1")
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? "1h")
    .sign(new TextEncoder().encode(options.secret ?? localJwtSecret));
}

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

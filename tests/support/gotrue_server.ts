/**
 * A test server that answers `/auth/v1/admin/users` as Supabase Auth (GoTrue) documents it, and
 * stores users where GoTrue does: in the database's `auth.users` / `auth.identities`.
 * 200 with the user · 422 `email_exists` · 404 `user_not_found` · 500 when told to fail.
 * Given `signIn`, also `POST /auth/v1/token?grant_type=password` with the publishable key: a session opened in
 * `auth.sessions` and its HS256 access token, or 400 `invalid_credentials`.
 */
import { SignJWT } from "jose";
import type postgres from "postgres";

export interface RecordedAuthRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Record<string, unknown> | null;
}

export interface GoTrueServer {
  url: string;
  requests: RecordedAuthRequest[];
  /** The next create answers 500 (GoTrue's `unexpected_failure`) after storing the user or without. */
  failNextCreate(mode: "before_storing" | "after_storing"): void;
  close(): Promise<void>;
}

const apiVersionHeaders = { "x-supabase-api-version": "2024-01-01" };

function gotrueError(status: number, code: string, message: string): Response {
  return Response.json({ code, message }, { status, headers: apiVersionHeaders });
}

/** Starts the server; `apiKey` is the key it accepts, as the gateway in front of GoTrue would. */
export function startGoTrueServer(
  sql: postgres.Sql,
  apiKey: string,
  signIn?: { jwtSecret: string; publishableKey: string },
): GoTrueServer {
  const requests: RecordedAuthRequest[] = [];
  let nextCreateFailure: "before_storing" | "after_storing" | undefined;

  async function userJson(id: string) {
    const [user] = await sql`
      select id, aud, role, email, email_confirmed_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at
      from auth.users where id = ${id}`;
    if (!user) return undefined;
    return {
      id: user.id,
      aud: user.aud,
      role: user.role,
      email: user.email,
      email_confirmed_at: user.email_confirmed_at,
      phone: "",
      app_metadata: user.raw_app_meta_data,
      user_metadata: user.raw_user_meta_data,
      identities: [],
      created_at: user.created_at,
      updated_at: user.updated_at,
      is_anonymous: false,
    };
  }

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const url = new URL(request.url);
    const text = await request.text();
    requests.push({
      method: request.method,
      path: url.pathname,
      headers: Object.fromEntries(request.headers),
      body: text ? JSON.parse(text) : null,
    });
    const body = text ? JSON.parse(text) : {};
    if (
      signIn && request.method === "POST" && url.pathname === "/auth/v1/token" &&
      url.searchParams.get("grant_type") === "password" &&
      [apiKey, signIn.publishableKey].includes(request.headers.get("apikey") ?? "")
    ) {
      const [user] = await sql<{ id: string; email: string }[]>`
        select id, email from auth.users
        where email = lower(${String(body.email)})
          and encrypted_password = extensions.crypt(${String(body.password)}, encrypted_password)
          and (banned_until is null or banned_until < now())`;
      if (!user) return gotrueError(400, "invalid_credentials", "Invalid login credentials");
      const session = crypto.randomUUID();
      await sql`insert into auth.sessions (id, user_id) values (${session}, ${user.id})`;
      const expiresAt = Math.floor(Date.now() / 1000) + 3600;
      const accessToken = await new SignJWT({ role: "authenticated", email: user.email, session_id: session })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setSubject(user.id)
        .setAudience("authenticated")
        .setIssuedAt()
        .setExpirationTime(expiresAt)
        .sign(new TextEncoder().encode(signIn.jwtSecret));
      return Response.json({
        access_token: accessToken,
        token_type: "bearer",
        expires_in: 3600,
        expires_at: expiresAt,
        refresh_token: crypto.randomUUID(),
        user: await userJson(user.id),
      }, { headers: apiVersionHeaders });
    }
    if (request.headers.get("apikey") !== apiKey) {
      return gotrueError(401, "no_authorization", "Invalid API key");
    }

    if (request.method === "POST" && url.pathname === "/auth/v1/admin/users") {
      const failure = nextCreateFailure;
      nextCreateFailure = undefined;
      if (failure === "before_storing") {
        return gotrueError(500, "unexpected_failure", "Database error creating new user");
      }
      const id = body.id ?? crypto.randomUUID();
      const email = String(body.email).toLowerCase();
      const [taken] = await sql`select 1 from auth.users where email = ${email}`;
      if (taken) {
        return gotrueError(422, "email_exists", "A user with this email address has already been registered");
      }
      const appMetadata = { provider: "email", providers: ["email"], ...body.app_metadata };
      await sql`
        insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                                raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
        values ('00000000-0000-0000-0000-000000000000', ${id}, 'authenticated', 'authenticated', ${email},
                extensions.crypt(${body.password}, extensions.gen_salt('bf')),
                ${body.email_confirm ? new Date() : null}, ${sql.json(appMetadata)},
                ${sql.json(body.user_metadata ?? {})}, now(), now())`;
      if (failure === "after_storing") return gotrueError(500, "unexpected_failure", "Unexpected failure");
      return Response.json(await userJson(id), { headers: apiVersionHeaders });
    }

    const match = url.pathname.match(/^\/auth\/v1\/admin\/users\/([0-9a-f-]{36})$/);
    if (match && request.method === "PUT") {
      if (!(await userJson(match[1]))) return gotrueError(404, "user_not_found", "User not found");
      if (typeof body.password === "string") {
        await sql`
          update auth.users set encrypted_password = extensions.crypt(${body.password}, extensions.gen_salt('bf')),
                                updated_at = now()
          where id = ${match[1]}`;
      }
      // GoTrue's ban: a Go duration ("876000h"), or "none" to lift it.
      if (typeof body.ban_duration === "string") {
        const hours = body.ban_duration === "none" ? null : Number(body.ban_duration.match(/^(\d+)h$/)?.[1]);
        if (hours !== null && !Number.isFinite(hours)) {
          return gotrueError(400, "validation_failed", "invalid format for ban duration");
        }
        await sql`
          update auth.users set banned_until = ${
          hours === null ? null : sql`now() + make_interval(hours => ${hours})`
        },
                                updated_at = now()
          where id = ${match[1]}`;
      }
      return Response.json(await userJson(match[1]), { headers: apiVersionHeaders });
    }
    if (match && (request.method === "GET" || request.method === "DELETE")) {
      const user = await userJson(match[1]);
      if (!user) return gotrueError(404, "user_not_found", "User not found");
      if (request.method === "DELETE") await sql`delete from auth.users where id = ${match[1]}`;
      return Response.json(request.method === "GET" ? user : {}, { headers: apiVersionHeaders });
    }
    return gotrueError(404, "not_found", "Not found");
  });

  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    failNextCreate(mode) {
      nextCreateFailure = mode;
    },
    close: () => server.shutdown(),
  };
}

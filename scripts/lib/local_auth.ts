/**
 * Local sign-in: the part of Supabase Auth (GoTrue) that supabase-js needs, answered by `npm start` at
 * http://127.0.0.1:54321/auth/v1 — `POST /token?grant_type=password|refresh_token`, `GET /user`,
 * `POST /logout`, and a forgotten password: `POST /recover`, `GET /verify`, `PUT /user` — with GoTrue's
 * request and response shapes and error codes. Passwords are checked against the bcrypt hash in
 * `auth.users`; access tokens are signed with the local JWT secret; refresh tokens and recovery links are
 * stored as SHA-256 hashes, refresh tokens rotated on every use, a recovery link good once, for an hour.
 *
 * Local only: it never ships as a function, and it refuses to start against a database where Supabase
 * Auth runs (where GoTrue's `supabase_auth_admin` owns `auth.users`). Deployed, Supabase Auth does all of this.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import postgres from "postgres";
import { fileURLToPath } from "node:url";
import { clientAddress } from "../../supabase/functions/_shared/client_address.ts";
import { config } from "../../supabase/functions/_shared/config.ts";
import { sha256 } from "../../supabase/functions/_shared/hash.ts";
import { noControlCharacters } from "../../supabase/functions/_shared/input.ts";
import {
  deliverEmail,
  emailSealContext,
  type EmailSender,
  type Language,
} from "../../supabase/functions/_domain/email.ts";
import { sealPassword } from "../../supabase/functions/_domain/password.ts";

/** Lifetime of an access token, as GoTrue's default `jwt_expiry`. */
export const accessTokenSeconds = 3600;
/** The password every seeded staff member signs in with locally (supabase/seed.sql). */
export const seededStaffPassword = "tripwire-local";
/** A recovery link's lifetime, as GoTrue's default mailer OTP expiry. */
export const recoveryLinkSeconds = 3600;
/** Seconds between two recovery e-mails to one address, as GoTrue's default SMTP max frequency. */
export const recoveryEmailIntervalSeconds = 60;
/** The shortest password `PUT /user` accepts (the academy's setting; Supabase's "Minimum password length"). */
export const minimumPasswordLength = 8;
/** bcrypt reads 72 bytes; GoTrue refuses longer passwords. */
const maximumPasswordLength = 72;

const tablesFile = new URL("../sql/local_auth.sql", import.meta.url);
// Compared against when the e-mail is unknown, so a miss costs what a wrong password costs.
const unknownUserHash = "$2a$06$3wCqdLymCR3dKqem1v5sCuhlnNetREg35Xef9WACX4Ym4ZmH/Pd5m";

interface AuthUserRow {
  id: string;
  aud: string | null;
  role: string | null;
  email: string | null;
  email_confirmed_at: Date | null;
  confirmed_at: Date | null;
  last_sign_in_at: Date | null;
  raw_app_meta_data: Record<string, unknown> | null;
  raw_user_meta_data: Record<string, unknown> | null;
  created_at: Date | null;
  updated_at: Date | null;
  banned_until: Date | null;
  is_anonymous: boolean;
}

const userColumns = [
  "id",
  "aud",
  "role",
  "email",
  "email_confirmed_at",
  "confirmed_at",
  "last_sign_in_at",
  "raw_app_meta_data",
  "raw_user_meta_data",
  "created_at",
  "updated_at",
  "banned_until",
  "is_anonymous",
];

/** An error as GoTrue renders it; supabase-js reads `error_code` into `AuthApiError.code`. */
class AuthError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 413 | 422 | 429,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
    /** Fields GoTrue adds to this error's body (`weak_password: {reasons}`). */
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/**
 * Sign-ins allowed per e-mail and per client address before sign-in answers 429 for a while. An attempt counts
 * when it arrives, before its password is checked (a right one takes its count back), so concurrent guesses
 * cannot all be checked at once.
 */
export const failedSignInLimits = {
  perEmail: { failures: 10, windowSeconds: 15 * 60 },
  perAddress: { failures: 30, windowSeconds: 5 * 60 },
};
/** Recovery e-mails a client address may ask for, whatever the addresses asked about. */
export const recoveryLimitPerAddress = { failures: 5, windowSeconds: 15 * 60 };
/** The largest request body the local sign-in reads (GoTrue's bodies are a few hundred bytes). */
export const maxAuthBodyBytes = 16 * 1024;

/**
 * Events per key within a sliding window: failed sign-ins (once a key reaches its limit every sign-in for it —
 * the right password too — answers 429 `over_request_rate_limit`, GoTrue's code, until the oldest failure
 * ages out, so a password cannot be guessed at the speed of the network), recovery e-mails asked for. In
 * memory: one local process; a key is forgotten once its events age out.
 */
class SlidingWindow {
  readonly #failures = new Map<string, number[]>();
  constructor(readonly limit: { failures: number; windowSeconds: number }) {}

  #recent(key: string, now: number): number[] {
    const recent = (this.#failures.get(key) ?? []).filter((at) => at > now - this.limit.windowSeconds * 1000);
    if (recent.length > 0) this.#failures.set(key, recent);
    else this.#failures.delete(key);
    return recent;
  }

  /** Seconds until `key` may try again, or 0. */
  waitSeconds(key: string, now = Date.now()): number {
    const recent = this.#recent(key, now);
    if (recent.length < this.limit.failures) return 0;
    return Math.max(
      1,
      Math.ceil((recent[recent.length - this.limit.failures] + this.limit.windowSeconds * 1000 - now) / 1000),
    );
  }

  /** Counts an event for `key`; answers its time, to `remove` it again. */
  record(key: string, now = Date.now()): number {
    this.#failures.set(key, [...this.#recent(key, now), now]);
    return now;
  }

  /** Takes back one event `record` counted. */
  remove(key: string, at: number) {
    const events = this.#failures.get(key) ?? [];
    const index = events.indexOf(at);
    if (index >= 0) events.splice(index, 1);
    if (!events.length) this.#failures.delete(key);
  }

  forget(key: string) {
    this.#failures.delete(key);
  }
}

const invalidCredentials = () => new AuthError(400, "invalid_credentials", "Invalid login credentials");

/** The user object GoTrue returns (GET /user, and `user` in a token answer). */
function userJson(user: AuthUserRow) {
  return {
    id: user.id,
    aud: user.aud ?? "authenticated",
    role: user.role ?? "authenticated",
    email: user.email ?? "",
    email_confirmed_at: user.email_confirmed_at?.toISOString(),
    phone: "",
    confirmed_at: user.confirmed_at?.toISOString(),
    last_sign_in_at: user.last_sign_in_at?.toISOString(),
    app_metadata: user.raw_app_meta_data ?? {},
    user_metadata: user.raw_user_meta_data ?? {},
    identities: [],
    created_at: user.created_at?.toISOString(),
    updated_at: user.updated_at?.toISOString(),
    is_anonymous: user.is_anonymous,
  };
}

function newRefreshToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
}

export interface LocalAuth {
  /** Answers a request whose path starts with /auth/v1. */
  fetch(request: Request): Response | Promise<Response>;
  /** Waits for the recovery e-mails being prepared after their answers. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

/** A 400 for an e-mail address or password with a control character (a NUL would reach Postgres). */
function refuseControlCharacters(...values: string[]) {
  if (!values.every((value) => noControlCharacters.test(value))) {
    throw new AuthError(400, "validation_failed", "Control characters are not allowed");
  }
}

/** The client's address as the platform's trusted proxy reports it; locally every client shares "local". */
function addressOf(request: Request): string {
  return clientAddress(request.headers, config().trustedProxyHops) ?? "local";
}

/**
 * Starts the local sign-in against `databaseUrl`, signing with `jwtSecret` (the local stack's). Throws
 * when the database is one where Supabase Auth runs.
 */
export async function startLocalAuth(
  options: {
    databaseUrl: string;
    jwtSecret: string;
    issuer: string;
    /**
     * Where recovery links lead when no allowed `redirect_to` is given (GoTrue's SITE_URL), and the origins a
     * `redirect_to` may name (its URI_ALLOW_LIST; the site's own origin always may).
     */
    siteUrl?: string;
    redirectOrigins?: string[];
    /** Where this stand-in is reached, for the links it e-mails (GoTrue's API_EXTERNAL_URL); the issuer. */
    externalUrl?: string;
    /** How its e-mails leave (the functions' own sender unless given). */
    emailSender?: EmailSender;
  },
): Promise<LocalAuth> {
  const sql = postgres(options.databaseUrl, { max: 4, onnotice: () => {} });
  try {
    const [{ owner }] = await sql<{ owner: string | null }[]>`
      select (select tableowner from pg_tables where schemaname = 'auth' and tablename = 'users') as owner`;
    if (owner === null || owner === "supabase_auth_admin") {
      throw new Error(
        owner === null
          ? "Local sign-in refuses to start: this database has no auth.users table."
          : "Local sign-in refuses to start: Supabase Auth runs on this database (auth.users belongs to " +
            "supabase_auth_admin). Sign in through that project's Supabase Auth instead.",
      );
    }
    await sql.file(fileURLToPath(tablesFile));
  } catch (error) {
    await sql.end();
    throw error;
  }
  const key = new TextEncoder().encode(options.jwtSecret);

  async function issueSession(
    tx: postgres.TransactionSql,
    user: AuthUserRow,
    sessionId: string,
    refreshToken: string,
    method: "password" | "otp" = "password",
  ) {
    const now = Math.floor(Date.now() / 1000);
    const accessToken = await new SignJWT({
      email: user.email ?? "",
      phone: "",
      app_metadata: user.raw_app_meta_data ?? {},
      user_metadata: user.raw_user_meta_data ?? {},
      role: user.role ?? "authenticated",
      aal: "aal1",
      amr: [{ method, timestamp: now }],
      session_id: sessionId,
      is_anonymous: user.is_anonymous,
    })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(user.id)
      .setAudience(user.aud ?? "authenticated")
      .setIssuer(options.issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + accessTokenSeconds)
      .sign(key);
    await tx`update auth.sessions set refreshed_at = now(), updated_at = now() where id = ${sessionId}`;
    return {
      access_token: accessToken,
      token_type: "bearer",
      expires_in: accessTokenSeconds,
      expires_at: now + accessTokenSeconds,
      refresh_token: refreshToken,
      user: userJson(user),
    };
  }

  /** A new session for a person just proven (a password, a recovery link): its first refresh token, its tokens. */
  async function openSession(
    tx: postgres.TransactionSql,
    user: AuthUserRow,
    userAgent: string | undefined,
    method: "password" | "otp",
  ) {
    const sessionId = crypto.randomUUID();
    const refreshToken = newRefreshToken();
    await tx`insert into auth.sessions (id, user_id, user_agent) values (${sessionId}, ${user.id}, ${
      userAgent ?? null
    })`;
    await tx`insert into auth.refresh_tokens (token, user_id, session_id)
             values (${sha256(refreshToken)}, ${user.id}, ${sessionId})`;
    return await issueSession(tx, user, sessionId, refreshToken, method);
  }

  const failuresByEmail = new SlidingWindow(failedSignInLimits.perEmail);
  const failuresByAddress = new SlidingWindow(failedSignInLimits.perAddress);

  async function passwordGrant(
    body: Record<string, unknown>,
    client: { userAgent?: string; address: string },
  ) {
    const email = typeof body.email === "string" ? body.email.trim().toLowerCase() : "";
    const password = typeof body.password === "string" ? body.password : "";
    if (!email || !password) {
      throw new AuthError(400, "validation_failed", "An email address and a password are required");
    }
    refuseControlCharacters(email, password);
    const wait = Math.max(failuresByEmail.waitSeconds(email), failuresByAddress.waitSeconds(client.address));
    if (wait > 0) throw new AuthError(429, "over_request_rate_limit", "Request rate limit reached", wait);
    // Counted now, in the same turn as the check above: of concurrent attempts, only as many as the limit
    // allows get to the password; a right one is taken back off its e-mail's count below.
    const attemptAt = failuresByEmail.record(email);
    const addressAt = failuresByAddress.record(client.address);
    const session = await signInWithPassword(email, password, client.userAgent);
    failuresByEmail.remove(email, attemptAt);
    failuresByAddress.remove(client.address, addressAt);
    return session;
  }

  function signInWithPassword(email: string, password: string, userAgent: string | undefined) {
    return sql.begin(async (tx) => {
      const [found] = await tx<(AuthUserRow & { encrypted_password: string })[]>`
        select ${tx(userColumns)}, encrypted_password
        from auth.users where lower(email) = ${email} and deleted_at is null and not is_sso_user`;
      const hash = found?.encrypted_password || unknownUserHash;
      const [{ matches }] = await tx<{ matches: boolean }[]>`
        select extensions.crypt(${password}, ${hash}) = ${hash} as matches`;
      if (!found || !found.encrypted_password || !matches) throw invalidCredentials();
      if (!found.email_confirmed_at) throw new AuthError(400, "email_not_confirmed", "Email not confirmed");
      if (found.banned_until && found.banned_until > new Date()) {
        throw new AuthError(400, "user_banned", "User is banned");
      }
      const [user] = await tx<AuthUserRow[]>`
        update auth.users set last_sign_in_at = now() where id = ${found.id} returning ${tx(userColumns)}`;
      return await openSession(tx, user, userAgent, "password");
    });
  }

  async function refreshGrant(body: Record<string, unknown>) {
    const given = typeof body.refresh_token === "string" ? body.refresh_token : "";
    if (!given) throw new AuthError(400, "validation_failed", "refresh_token required");
    const hash = sha256(given);
    // Rotation: the token is revoked and a child issued in one transaction; of two concurrent uses one wins.
    const answer = await sql.begin(async (tx) => {
      const [used] = await tx<{ session_id: string; user_id: string }[]>`
        update auth.refresh_tokens set revoked = true, updated_at = now()
        where token = ${hash} and not revoked
        returning session_id, user_id`;
      if (!used) {
        const [known] = await tx<{ session_id: string }[]>`
          select session_id from auth.refresh_tokens where token = ${hash}`;
        if (!known) {
          throw new AuthError(
            400,
            "refresh_token_not_found",
            "Invalid Refresh Token: Refresh Token Not Found",
          );
        }
        return { reused: known.session_id };
      }
      const [user] = await tx<(AuthUserRow & { deleted_at: Date | null })[]>`select ${
        tx(userColumns)
      }, deleted_at from auth.users where id = ${used.user_id}`;
      // A deleted user's sessions are gone in GoTrue, and a banned user is refused, as at sign-in.
      if (!user || user.deleted_at) {
        throw new AuthError(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found");
      }
      if (user.banned_until && user.banned_until > new Date()) {
        throw new AuthError(400, "user_banned", "User is banned");
      }
      const refreshToken = newRefreshToken();
      await tx`insert into auth.refresh_tokens (token, user_id, session_id, parent)
               values (${sha256(refreshToken)}, ${user.id}, ${used.session_id}, ${hash})`;
      return { session: await issueSession(tx, user, used.session_id, refreshToken) };
    });
    if ("session" in answer) return answer.session;
    // A revoked token presented again is taken as stolen, as GoTrue does past its reuse interval: the whole
    // session ends (this local stand-in has no reuse interval; supabase-js refreshes one at a time).
    await sql`delete from auth.sessions where id = ${answer.reused}`;
    throw new AuthError(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used");
  }

  /** The bearer token's claims, and its session still open. */
  async function signedIn(authorization: string | undefined) {
    const token = authorization?.match(/^Bearer\s+(\S+)$/i)?.[1];
    if (!token) throw new AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token");
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(token, key, {
        algorithms: ["HS256"],
        audience: "authenticated",
      }));
    } catch (error) {
      const reason = error instanceof joseErrors.JWTExpired
        ? "token has invalid claims: token is expired"
        : "invalid JWT";
      throw new AuthError(403, "bad_jwt", `invalid JWT: unable to parse or verify signature, ${reason}`);
    }
    const sessionId = typeof claims.session_id === "string" ? claims.session_id : "";
    const [session] = sessionId
      ? await sql<{ user_id: string }[]>`select user_id from auth.sessions where id = ${sessionId}`
      : [];
    if (!session || session.user_id !== claims.sub) {
      throw new AuthError(403, "session_not_found", "Session from session_id claim in JWT does not exist");
    }
    return { userId: session.user_id, sessionId };
  }

  const siteUrl = options.siteUrl ?? "http://127.0.0.1:54323";
  const redirectOrigins = new Set([new URL(siteUrl).origin, ...(options.redirectOrigins ?? [])]);
  /** A `redirect_to` the allow list names, else the site (GoTrue's rule). */
  const allowedRedirect = (given: string | undefined) => {
    try {
      if (given && redirectOrigins.has(new URL(given).origin)) return given;
    } catch {
      // not a URL: the site
    }
    return siteUrl;
  };
  // Per e-mail address, known or not, so the answer never says whether an account exists; and per client.
  const recoveryRequests = new SlidingWindow({ failures: 1, windowSeconds: recoveryEmailIntervalSeconds });
  const recoveryClients = new SlidingWindow(recoveryLimitPerAddress);
  /** Recovery e-mails being prepared after their answers went out. */
  const preparing = new Set<Promise<void>>();

  /**
   * Admits a recovery request (429 past either limit) and answers at once: the e-mail, if `email` has a login,
   * is prepared after the answer, so a known and an unknown address answer in the same time.
   */
  function admitRecovery(email: string, address: string, redirectTo: string) {
    const wait = Math.max(recoveryRequests.waitSeconds(email), recoveryClients.waitSeconds(address));
    if (wait > 0) {
      throw new AuthError(
        429,
        "over_email_send_rate_limit",
        `For security purposes, you can only request this after ${wait} seconds.`,
        wait,
      );
    }
    recoveryRequests.record(email);
    recoveryClients.record(address);
    const work: Promise<void> = recover(email, redirectTo).catch((error) =>
      console.error(JSON.stringify({ level: "error", msg: "recovery e-mail failed", error: String(error) }))
    ).finally(() => preparing.delete(work));
    preparing.add(work);
  }

  /**
   * A recovery e-mail for `email` if it has a login: a link good once, for an hour, stored only as its
   * SHA-256, sent through the e-mail outbox (sealed there until sent).
   */
  async function recover(email: string, redirectTo: string) {
    const token = Array.from(
      crypto.getRandomValues(new Uint8Array(28)),
      (b) => b.toString(16).padStart(2, "0"),
    )
      .join("");
    const link = `${options.externalUrl ?? options.issuer}/verify?${new URLSearchParams({
      token,
      type: "recovery",
      redirect_to: redirectTo,
    })}`;
    const queued = await sql.begin(async (tx) => {
      const [person] = await tx<{ id: string; full_name: string; language: Language }[]>`
        update auth.users a set recovery_token = ${sha256(token)}, recovery_sent_at = now()
        from public.users u cross join academy.settings s
        where lower(a.email) = ${email} and a.deleted_at is null and u.id = a.id
        returning a.id, u.full_name, s.language`;
      if (!person) return undefined;
      const sealed = await sealPassword(link, emailSealContext("password_recovery", person.id));
      const [row] = await tx<{ outbox_id: string }[]>`
        insert into private.email_outbox (user_id, recipient, template, payload, sealed_password)
        values (${person.id}, ${email}, 'password_recovery',
                jsonb_build_object('full_name', ${person.full_name}::text, 'language', ${person.language}::text), ${sealed})
        returning id::text as outbox_id`;
      return { ...person, outboxId: row.outbox_id };
    });
    if (!queued) return;
    // Sent now; if the provider refuses, the scheduler's retry-emails sends it from the outbox.
    await deliverEmail(
      {
        outboxId: queued.outboxId,
        userId: queued.id,
        email,
        fullName: queued.full_name,
        template: "password_recovery",
        language: queued.language,
      },
      link,
      options.emailSender,
      sql,
    );
  }

  /** A recovery link followed: good once, within the hour; signs its person in (GoTrue's implicit flow). */
  function verifyRecovery(token: string, userAgent: string | undefined) {
    return sql.begin(async (tx) => {
      const [user] = await tx<AuthUserRow[]>`
        update auth.users
        set recovery_token = null, email_confirmed_at = coalesce(email_confirmed_at, now()), last_sign_in_at = now()
        where recovery_token = ${sha256(token)} and deleted_at is null
          and recovery_sent_at > now() - make_interval(secs => ${recoveryLinkSeconds})
          and (banned_until is null or banned_until <= now())
        returning ${tx(userColumns)}`;
      if (!user) throw new AuthError(403, "otp_expired", "Email link is invalid or has expired");
      return await openSession(tx, user, userAgent, "otp");
    });
  }

  /** A signed-in person sets a new password (supabase-js `updateUser({ password })`); other sessions end. */
  function updatePassword(userId: string, sessionId: string, password: string) {
    if (password.length > maximumPasswordLength) {
      throw new AuthError(
        400,
        "validation_failed",
        `Password cannot be longer than ${maximumPasswordLength} characters`,
      );
    }
    if (password.length < minimumPasswordLength) {
      throw new AuthError(
        422,
        "weak_password",
        `Password should be at least ${minimumPasswordLength} characters.`,
        undefined,
        { weak_password: { reasons: ["length"] } },
      );
    }
    return sql.begin(async (tx) => {
      const [current] = await tx<{ same: boolean }[]>`
        select coalesce(encrypted_password, '') <> ''
               and extensions.crypt(${password}, encrypted_password) = encrypted_password as same
        from auth.users where id = ${userId} for update`;
      if (!current) throw new AuthError(403, "user_not_found", "User from sub claim in JWT does not exist");
      if (current.same) {
        throw new AuthError(422, "same_password", "New password should be different from the old password.");
      }
      const [user] = await tx<AuthUserRow[]>`
        update auth.users set encrypted_password = extensions.crypt(${password}, extensions.gen_salt('bf')),
                              updated_at = now()
        where id = ${userId}
        returning ${tx(userColumns)}`;
      await tx`delete from auth.sessions where user_id = ${userId} and id <> ${sessionId}`;
      return user;
    });
  }

  const app = new Hono().basePath("/auth/v1");
  app.use(
    "*",
    cors({
      origin: "*",
      allowMethods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"],
      allowHeaders: ["authorization", "apikey", "content-type", "x-client-info", "x-supabase-api-version"],
      exposeHeaders: ["x-supabase-api-version", "retry-after"],
      maxAge: 86400,
    }),
  );
  // A body is read only up to its limit, whatever Content-Length says.
  app.use(
    bodyLimit({
      maxSize: maxAuthBodyBytes,
      onError: () => {
        throw new AuthError(
          413,
          "request_too_large",
          `The request body is larger than ${maxAuthBodyBytes} bytes`,
        );
      },
    }),
  );
  app.post("/token", async (c) => {
    const body = await c.req.json().catch(() => null);
    if (!body || typeof body !== "object") {
      throw new AuthError(400, "bad_json", "Could not parse request body as JSON");
    }
    const grantType = c.req.query("grant_type");
    if (grantType === "password") {
      return c.json(
        await passwordGrant(body, { userAgent: c.req.header("user-agent"), address: addressOf(c.req.raw) }),
      );
    }
    if (grantType === "refresh_token") return c.json(await refreshGrant(body));
    throw new AuthError(400, "unsupported_grant_type", "unsupported_grant_type");
  });
  app.get("/user", async (c) => {
    const { userId } = await signedIn(c.req.header("authorization"));
    const [user] = await sql<AuthUserRow[]>`select ${sql(userColumns)} from auth.users where id = ${userId}`;
    if (!user) throw new AuthError(403, "user_not_found", "User from sub claim in JWT does not exist");
    return c.json(userJson(user));
  });
  app.post("/recover", async (c) => {
    const body = await c.req.json().catch(() => null);
    if (!body || typeof body !== "object") {
      throw new AuthError(400, "bad_json", "Could not parse request body as JSON");
    }
    const email = typeof body.email === "string" ? body.email.trim().toLowerCase() : "";
    if (!email) throw new AuthError(400, "validation_failed", "Password recovery requires an email");
    refuseControlCharacters(email);
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email) || email.length > 255) {
      throw new AuthError(400, "validation_failed", "Unable to validate email address: invalid format");
    }
    if (body.code_challenge) {
      throw new AuthError(400, "validation_failed", "This local stand-in answers the implicit flow only");
    }
    admitRecovery(email, addressOf(c.req.raw), allowedRedirect(c.req.query("redirect_to")));
    return c.json({});
  });
  app.get("/verify", async (c) => {
    const redirectTo = allowedRedirect(c.req.query("redirect_to"));
    if (c.req.query("type") !== "recovery") {
      throw new AuthError(400, "validation_failed", "Unsupported verification type");
    }
    try {
      const session = await verifyRecovery(c.req.query("token") ?? "", c.req.header("user-agent"));
      // GoTrue's implicit flow: the session in the redirect's fragment, which supabase-js reads.
      const fragment = new URLSearchParams({
        access_token: session.access_token,
        expires_at: String(session.expires_at),
        expires_in: String(session.expires_in),
        refresh_token: session.refresh_token,
        sb: "",
        token_type: session.token_type,
        type: "recovery",
      });
      return c.redirect(`${redirectTo}#${fragment}`, 303);
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      const fragment = new URLSearchParams({
        error: "access_denied",
        error_code: error.code,
        error_description: error.message,
        sb: "",
      });
      return c.redirect(`${redirectTo}#${fragment}`, 303);
    }
  });
  app.put("/user", async (c) => {
    const { userId, sessionId } = await signedIn(c.req.header("authorization"));
    const body = await c.req.json().catch(() => null);
    if (!body || typeof body !== "object") {
      throw new AuthError(400, "bad_json", "Could not parse request body as JSON");
    }
    if (typeof body.password !== "string") {
      throw new AuthError(400, "validation_failed", "This local stand-in changes only the password");
    }
    refuseControlCharacters(body.password);
    return c.json(userJson(await updatePassword(userId, sessionId, body.password)));
  });
  app.post("/logout", async (c) => {
    const { userId, sessionId } = await signedIn(c.req.header("authorization"));
    const scope = c.req.query("scope") ?? "global";
    if (scope === "local") await sql`delete from auth.sessions where id = ${sessionId}`;
    else if (scope === "others") {
      await sql`delete from auth.sessions where user_id = ${userId} and id <> ${sessionId}`;
    } else if (scope === "global") await sql`delete from auth.sessions where user_id = ${userId}`;
    else throw new AuthError(400, "validation_failed", "scope must be global, local or others");
    return c.body(null, 204);
  });
  app.notFound((c) =>
    c.json({
      code: 404,
      error_code: "not_found",
      msg: "This local stand-in for Supabase Auth answers only /token, /user, /logout, /recover and /verify",
    }, 404)
  );
  app.onError((error, c) => {
    if (error instanceof AuthError) {
      if (error.retryAfterSeconds) c.header("retry-after", String(error.retryAfterSeconds));
      return c.json(
        { code: error.status, error_code: error.code, msg: error.message, ...error.extra },
        error.status,
      );
    }
    console.error(JSON.stringify({ level: "error", msg: "local sign-in failed", error: String(error) }));
    return c.json({ code: 500, error_code: "unexpected_failure", msg: "Unexpected failure" }, 500);
  });

  return {
    fetch: (request) => app.fetch(request),
    settled: async () => {
      await Promise.all(preparing);
    },
    close: async () => {
      await Promise.all(preparing);
      await sql.end();
    },
  };
}

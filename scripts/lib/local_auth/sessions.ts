/**
 * Sessions, as GoTrue keeps them in `auth.sessions` and `auth.refresh_tokens`: `POST /token` (a password, or a
 * refresh token rotated on every use), `GET /user`, `POST /logout`. Access tokens are HS256 with the project's
 * JWT secret; refresh tokens are stored as SHA-256 hashes.
 */
import type { Context } from "hono";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import type postgres from "postgres";
import { z } from "zod";
import { clientAddress } from "../../../supabase/functions/_shared/client_address.ts";
import { config } from "../../../supabase/functions/_shared/config.ts";
import { sha256 } from "../../../supabase/functions/_shared/hash.ts";
import { accessTokenSeconds, failedSignInLimits, SlidingWindow } from "./rules.ts";
import {
  type AuthContext,
  AuthError,
  type AuthUserRow,
  jsonBody,
  refuseControlCharacters,
  userColumns,
  userJson,
} from "./users.ts";

// Compared against when the e-mail is unknown, so a miss costs what a wrong password costs.
const unknownUserHash = "$2a$06$3wCqdLymCR3dKqem1v5sCuhlnNetREg35Xef9WACX4Ym4ZmH/Pd5m";

const invalidCredentials = () => new AuthError(400, "invalid_credentials", "Invalid login credentials");

/** supabase-js sends more (`gotrue_meta_security`); GoTrue reads only these. */
const PasswordGrant = z.object({ email: z.string().default(""), password: z.string().default("") });
const RefreshGrant = z.object({ refresh_token: z.string().default("") });

function newRefreshToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
}

/** The client's address as the platform's trusted proxy reports it; locally every client shares "local". */
export function addressOf(request: Request): string {
  return clientAddress(request.headers, config().trustedProxyHops) ?? "local";
}

export type Sessions = ReturnType<typeof sessions>;

/** The session routes, and what the recovery routes use of them (`openSession`, `signedIn`). */
export function sessions({ sql, key, issuer }: AuthContext) {
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
      .setIssuer(issuer)
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

  async function passwordGrant(c: Context) {
    const body = await jsonBody(c, PasswordGrant);
    const email = body.email.trim().toLowerCase();
    const { password } = body;
    if (!email || !password) {
      throw new AuthError(400, "validation_failed", "An email address and a password are required");
    }
    refuseControlCharacters(email, password);
    const address = addressOf(c.req.raw);
    const wait = Math.max(failuresByEmail.waitSeconds(email), failuresByAddress.waitSeconds(address));
    if (wait > 0) throw new AuthError(429, "over_request_rate_limit", "Request rate limit reached", wait);
    // Counted now, in the same turn as the check above: of concurrent attempts, only as many as the limit
    // allows get to the password; a right one is taken back off its e-mail's count below.
    const attemptAt = failuresByEmail.record(email);
    const addressAt = failuresByAddress.record(address);
    const session = await signInWithPassword(email, password, c.req.header("user-agent"));
    failuresByEmail.remove(email, attemptAt);
    failuresByAddress.remove(address, addressAt);
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

  async function refreshGrant(c: Context) {
    const given = (await jsonBody(c, RefreshGrant)).refresh_token;
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

  return {
    openSession,
    signedIn,
    routes: {
      /** POST /token?grant_type=password|refresh_token */
      async token(c: Context) {
        const grantType = c.req.query("grant_type");
        if (grantType === "password") return c.json(await passwordGrant(c));
        if (grantType === "refresh_token") return c.json(await refreshGrant(c));
        throw new AuthError(400, "unsupported_grant_type", "unsupported_grant_type");
      },
      /** GET /user: the signed-in person. */
      async user(c: Context) {
        const { userId } = await signedIn(c.req.header("authorization"));
        const [user] = await sql<AuthUserRow[]>`select ${
          sql(userColumns)
        } from auth.users where id = ${userId}`;
        if (!user) throw new AuthError(403, "user_not_found", "User from sub claim in JWT does not exist");
        return c.json(userJson(user));
      },
      /** POST /logout?scope=global|local|others */
      async logout(c: Context) {
        const { userId, sessionId } = await signedIn(c.req.header("authorization"));
        const scope = c.req.query("scope") ?? "global";
        if (scope === "local") await sql`delete from auth.sessions where id = ${sessionId}`;
        else if (scope === "others") {
          await sql`delete from auth.sessions where user_id = ${userId} and id <> ${sessionId}`;
        } else if (scope === "global") await sql`delete from auth.sessions where user_id = ${userId}`;
        else throw new AuthError(400, "validation_failed", "scope must be global, local or others");
        return c.body(null, 204);
      },
    },
  };
}

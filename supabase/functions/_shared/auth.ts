/**
 * Who is calling: the JWT is verified here (legacy HS256 secret or the project's asymmetric keys),
 * and the role comes from `public.users`, never from the token's metadata or the request body.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
} from "jose";
import { config } from "./config.ts";
import { Constants } from "../_generated/database.types.ts";
import { db, type Row, type Sql } from "./db.ts";
import { HttpError } from "./errors.ts";

export type Role = "student" | "manager" | "admin";

export interface AuthUser {
  id: string;
  email: string;
  fullName: string;
  role: Role;
}

const asymmetricAlgorithms = ["ES256", "RS256", "EdDSA"];
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type KeySet = ReturnType<typeof createLocalJWKSet> | ReturnType<typeof createRemoteJWKSet>;
/** A verified token's claims: its subject and, as Supabase Auth issues them, its session. */
export type Claims = JWTPayload & { sub: string; session_id?: unknown };

export interface VerifierOptions {
  /** Legacy symmetric secret; HS256 tokens are refused without it. */
  jwtSecret?: string;
  /** Key ids an HS256 token may name; one naming another is refused (none named: always accepted). */
  jwtSecretKids?: string[];
  /** Asymmetric public keys given inline (SUPABASE_JWKS). */
  jwks?: JSONWebKeySet;
  /** Where to fetch the asymmetric keys when none are given inline. */
  jwksUrl?: URL;
  /** How many verified tokens to remember (0: none); see `rememberedTokens`. */
  cacheSize?: number;
  /** The clock, in milliseconds; tests move it instead of waiting. */
  now?: () => number;
}

/**
 * A verified token is remembered for up to a minute (never past its `exp`), keyed by the whole token
 * string, signature included: a player sends the same token every few seconds, and checking its
 * signature again cost more than the heartbeat's SQL (docs/benchmarks.md). A forged or altered token
 * is a different string, so it is always verified.
 */
const rememberMs = 60_000;
/** Supabase Auth issues access tokens for at most a week (its `jwt_expiry` limit). */
const maxLifetimeSeconds = 7 * 24 * 3600;
/** Clock skew allowed between Supabase Auth and this server. */
const leewaySeconds = 60;

function unauthorized(message: string): HttpError {
  return new HttpError(401, "invalid_token", message);
}

/**
 * 401 `missing_token`: no signed-in user's access token — none at all, or the project's API key where it belongs
 * (supabase-js without a session sends that).
 */
function signInRequired(): HttpError {
  return new HttpError(
    401,
    "missing_token",
    "Sign in first: this route takes a signed-in user's access token (Authorization: Bearer <access_token>), " +
      "not the project's API key",
  );
}

/** The `role` a JWT claims, unverified; undefined for what is not a JWT. */
function unverifiedRole(token: string): unknown {
  try {
    return decodeJwt(token).role;
  } catch {
    return undefined;
  }
}

/** Takes the bearer token out of an Authorization header; 401 when there is none. */
export function bearerToken(header: string | undefined): string {
  const match = header?.match(/^Bearer\s+(\S+)$/i);
  if (!match) throw signInRequired();
  return match[1];
}

/**
 * Builds a verifier for Supabase user JWTs. `alg: none`, an algorithm we hold no key for, a wrong
 * signature, an expired token or a token that is not a signed-in user's → 401.
 */
export function createJwtVerifier(options: VerifierOptions): (token: string) => Promise<Claims> {
  const secret = options.jwtSecret ? new TextEncoder().encode(options.jwtSecret) : undefined;
  let keySet: KeySet | undefined;
  if (options.jwks) keySet = createLocalJWKSet(options.jwks);
  else if (options.jwksUrl) keySet = createRemoteJWKSet(options.jwksUrl);
  const cacheSize = options.cacheSize ?? 10_000;
  const clock = options.now ?? Date.now;
  const remembered = new Map<string, { claims: Claims; until: number }>();

  const verify = async (token: string): Promise<Claims> => {
    // supabase-js with no session sends the project's API key as the bearer: the caller has not signed in.
    if (/^sb_(publishable|secret)_/.test(token)) throw signInRequired();
    // So is the legacy anon key, a JWT of role anon (read unverified: it only chooses which 401 to answer).
    if (unverifiedRole(token) === "anon") throw signInRequired();
    let header: { alg?: string; kid?: string };
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw unauthorized("The token is malformed");
    }
    const algorithm = header.alg;
    // As Supabase Auth issues them: audience `authenticated`, an expiry, no future issue time.
    const checks = {
      audience: "authenticated",
      requiredClaims: ["exp"],
      currentDate: new Date(clock()),
    };
    try {
      let payload: JWTPayload;
      if (algorithm === "HS256" && secret) {
        if (header.kid !== undefined && !(options.jwtSecretKids ?? []).includes(header.kid)) {
          throw unauthorized("The token names a signing key this project does not have");
        }
        ({ payload } = await jwtVerify(token, secret, { ...checks, algorithms: ["HS256"] }));
      } else if (algorithm && asymmetricAlgorithms.includes(algorithm) && keySet) {
        ({ payload } = await jwtVerify(token, keySet, { ...checks, algorithms: asymmetricAlgorithms }));
      } else {
        throw unauthorized("This token's signing algorithm is not accepted");
      }
      const nowSeconds = clock() / 1000;
      if (payload.exp! > nowSeconds + maxLifetimeSeconds + leewaySeconds) {
        throw unauthorized("The token's expiry is further away than Supabase Auth ever sets it");
      }
      if (typeof payload.iat === "number" && payload.iat > nowSeconds + leewaySeconds) {
        throw unauthorized("The token was issued in the future");
      }
      if (
        payload.role !== "authenticated" || typeof payload.sub !== "string" || !uuidPattern.test(payload.sub)
      ) {
        throw unauthorized("The token does not belong to a signed-in user");
      }
      return payload as Claims;
    } catch (error) {
      if (error instanceof HttpError) throw error;
      if (error instanceof joseErrors.JWTExpired) throw unauthorized("The token has expired");
      if (error instanceof joseErrors.JOSEError) throw unauthorized("The token is not valid");
      throw error;
    }
  };

  return async (token) => {
    const now = clock();
    const hit = remembered.get(token);
    if (hit && hit.until > now) return hit.claims;
    if (hit) remembered.delete(token);
    const claims = await verify(token);
    if (cacheSize > 0) {
      const expiresAt = typeof claims.exp === "number" ? claims.exp * 1000 : now;
      // The oldest entry goes first (a Map iterates in insertion order).
      if (remembered.size >= cacheSize) remembered.delete(remembered.keys().next().value!);
      remembered.set(token, { claims, until: Math.min(expiresAt, now + rememberMs) });
    }
    return claims;
  };
}

let defaultVerifier: ((token: string) => Promise<Claims>) | undefined;

/** Verifies a user JWT with the keys this deployment is configured with. */
export function verifyJwt(token: string): Promise<Claims> {
  if (!defaultVerifier) {
    const { jwtSecret, jwtSecretKids, jwks, supabaseUrl } = config();
    defaultVerifier = createJwtVerifier({
      jwtSecret,
      jwtSecretKids,
      jwks,
      jwksUrl: supabaseUrl ? new URL("/auth/v1/.well-known/jwks.json", supabaseUrl) : undefined,
    });
  }
  return defaultVerifier(token);
}

/**
 * Admits a caller whose role (from `public.users`; null when they have no account there) is one of
 * `allowed`; anyone else → 403.
 */
export function assertRole(role: Role | null | undefined, allowed: readonly Role[]): void {
  if (!role) throw new HttpError(403, "forbidden", "This account has no access to Tripwire");
  if (!allowed.includes(role)) {
    throw new HttpError(403, "forbidden", `Only ${allowed.join(" or ")} accounts may do this`);
  }
}

/** A student's status: the enum `public.student_status`, as the generated types carry it. */
export const studentStatuses = Constants.public.Enums.student_status;
export type StudentStatus = (typeof studentStatuses)[number];
/** The statuses that take a student's access away: the enum `public.access_revoking_status`. */
export const revokedStatuses = Constants.public.Enums.access_revoking_status;
export type RevokedStatus = (typeof revokedStatuses)[number];

/** True when a student with this status may no longer watch or complete. */
export function isRevoked(status: string | null | undefined): status is RevokedStatus {
  return (revokedStatuses as readonly (string | null | undefined)[]).includes(status);
}

/** A refunded or suspended student may no longer watch or complete: 403 `access_revoked`. */
export function assertAccess(status: string | null | undefined): void {
  if (isRevoked(status)) {
    throw new HttpError(403, "access_revoked", `This course access was ${status}; ask your manager`, {
      status,
    });
  }
}

/** The token's session (`session_id`, as Supabase Auth issues it), or null when it names none. */
export function sessionOf(claims: { session_id?: unknown }): string | null {
  const session = claims.session_id;
  return typeof session === "string" && uuidPattern.test(session) ? session : null;
}

/**
 * Loads the caller a verified token names, and admits them only while they may act: an account here, not
 * deactivated, not erased, and the token's session still open in Supabase Auth (`private.session_live`).
 * So signing out, a ban, an erasure or a deleted login ends access at once, not when the token expires.
 */
export async function loadCaller(claims: Claims, sql: Sql = db()): Promise<AuthUser> {
  const [row] = await sql<
    (Pick<Row<"users">, "id" | "email" | "full_name" | "role" | "deactivated_at" | "erased_at"> & {
      session_live: boolean;
    })[]
  >`
    select id, email, full_name, role, deactivated_at, erased_at,
           private.session_live(id, ${sessionOf(claims)}) as session_live
    from public.users where id = ${claims.sub}`;
  const role = row?.role as Role | undefined;
  assertRole(role, ["student", "manager", "admin"]);
  if (row.erased_at) throw new HttpError(403, "forbidden", "This account was erased");
  if (row.deactivated_at) {
    throw new HttpError(403, "account_deactivated", "This staff account was deactivated by an admin");
  }
  // Supabase Auth no longer holds the session (signed out, banned, deleted): 401.
  if (!row.session_live) throw unauthorized("This sign-in has ended; sign in again");
  return { id: row.id, email: row.email, fullName: row.full_name, role: role! };
}

/** Verifies the Authorization header and returns the caller with their role. */
export async function authenticate(authorization: string | undefined): Promise<AuthUser> {
  return await loadCaller(await verifyJwt(bearerToken(authorization)));
}

/**
 * Who is calling: the JWT is verified here (legacy HS256 secret or the project's asymmetric keys),
 * and the role comes from `public.users`, never from the token's metadata or the request body.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
} from "jose";
import { config } from "./config.ts";
import { db, type Sql } from "./db.ts";
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
export type Claims = JWTPayload & { sub: string };

export interface VerifierOptions {
  /** Legacy symmetric secret; HS256 tokens are refused without it. */
  jwtSecret?: string;
  /** Asymmetric public keys given inline (SUPABASE_JWKS). */
  jwks?: JSONWebKeySet;
  /** Where to fetch the asymmetric keys when none are given inline. */
  jwksUrl?: URL;
}

function unauthorized(message: string): HttpError {
  return new HttpError(401, "invalid_token", message);
}

/** Takes the bearer token out of an Authorization header; 401 when there is none. */
export function bearerToken(header: string | undefined): string {
  const match = header?.match(/^Bearer\s+(\S+)$/i);
  if (!match) throw new HttpError(401, "missing_token", "An Authorization: Bearer token is required");
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

  return async (token) => {
    let algorithm: string | undefined;
    try {
      algorithm = decodeProtectedHeader(token).alg;
    } catch {
      throw unauthorized("The token is malformed");
    }
    try {
      let payload: JWTPayload;
      if (algorithm === "HS256" && secret) {
        ({ payload } = await jwtVerify(token, secret, { algorithms: ["HS256"] }));
      } else if (algorithm && asymmetricAlgorithms.includes(algorithm) && keySet) {
        ({ payload } = await jwtVerify(token, keySet, { algorithms: asymmetricAlgorithms }));
      } else {
        throw unauthorized("This token's signing algorithm is not accepted");
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
}

let defaultVerifier: ((token: string) => Promise<Claims>) | undefined;

/** Verifies a user JWT with the keys this deployment is configured with. */
export function verifyJwt(token: string): Promise<Claims> {
  if (!defaultVerifier) {
    const { jwtSecret, jwks, supabaseUrl } = config();
    defaultVerifier = createJwtVerifier({
      jwtSecret,
      jwks,
      jwksUrl: supabaseUrl ? new URL("/auth/v1/.well-known/jwks.json", supabaseUrl) : undefined,
    });
  }
  return defaultVerifier(token);
}

/** Loads the caller's account and role; a valid token with no account here → 403. */
export async function loadUser(userId: string, sql: Sql = db()): Promise<AuthUser> {
  const [row] = await sql<{ id: string; email: string; full_name: string; role: Role }[]>`
    select id, email, full_name, role from public.users where id = ${userId}`;
  if (!row) throw new HttpError(403, "forbidden", "This account has no access to Tripwire");
  return { id: row.id, email: row.email, fullName: row.full_name, role: row.role };
}

/** Verifies the Authorization header and returns the caller with their role. */
export async function authenticate(authorization: string | undefined): Promise<AuthUser> {
  const claims = await verifyJwt(bearerToken(authorization));
  return await loadUser(claims.sub);
}

/**
 * Configuration from the environment, under the names Supabase sets when deployed and the names the
 * local stack (`npm start`) sets. Read once per isolate.
 */
import type { JSONWebKeySet } from "jose";

export interface Config {
  /** Direct or pooled Postgres URL: SUPABASE_DB_URL when deployed, DATABASE_URL locally. */
  databaseUrl: string;
  /** Connections per isolate; small, because every isolate has its own pool. */
  databasePoolSize: number;
  /** The project's API URL; its `/auth/v1/.well-known/jwks.json` serves the signing keys. */
  supabaseUrl?: string;
  /** Legacy symmetric JWT secret (HS256), if the project still signs with it. */
  jwtSecret?: string;
  /** Asymmetric signing keys (SUPABASE_JWKS), when given inline. */
  jwks?: JSONWebKeySet;
  /** Server-to-server keys: the new secret keys and the legacy service_role key. */
  secretKeys: string[];
  /**
   * Who creates login accounts: `supabase` (GoTrue's admin API, the default, as deployed) or `local`
   * (rows written into this database's `auth` schema, for `npm start` and the tests). AUTH_ADMIN.
   */
  authAdmin: "supabase" | "local";
  /** Resend API key; without it welcome e-mails go to the log (RESEND_API_KEY). */
  resendApiKey?: string;
  /** Resend's API base URL (RESEND_API_URL), https://api.resend.com unless a test server stands in. */
  resendApiUrl: string;
  /** Sender of the welcome e-mail (EMAIL_FROM), a domain verified with the provider. */
  emailFrom: string;
  /** Where the welcome e-mail sends the student to sign in (APP_LOGIN_URL). */
  loginUrl: string;
  /**
   * Keys that seal a generated password while it waits for an idempotent replay or an e-mail retry:
   * SEALING_KEY if set, then the server-side secrets, so rotation leaves the old ones readable.
   */
  sealingSecrets: string[];
}

function parseKeyDictionary(name: string): string[] {
  const raw = Deno.env.get(name);
  if (!raw) return [];
  const parsed: unknown = JSON.parse(raw);
  if (typeof parsed === "string") return [parsed];
  if (parsed && typeof parsed === "object") {
    return Object.values(parsed).filter((value): value is string => typeof value === "string");
  }
  throw new Error(`${name} must be a JSON object of key names to keys`);
}

function parseJwks(raw: string | undefined): JSONWebKeySet | undefined {
  if (!raw) return undefined;
  const parsed = JSON.parse(raw);
  // Accept both a key set and a bare array of keys.
  const keys = Array.isArray(parsed) ? parsed : parsed?.keys;
  if (!Array.isArray(keys)) throw new Error("SUPABASE_JWKS must be a JSON Web Key Set");
  return { keys };
}

/** Reads the configuration from the environment; throws when something required is missing. */
export function loadConfig(): Config {
  const databaseUrl = Deno.env.get("SUPABASE_DB_URL") ?? Deno.env.get("DATABASE_URL");
  if (!databaseUrl) throw new Error("SUPABASE_DB_URL or DATABASE_URL must be set");
  const legacyServiceRole = Deno.env.get("SUPABASE_SERVICE_ROLE_KEY");
  const secretKeys = [
    ...parseKeyDictionary("SUPABASE_SECRET_KEYS"),
    ...(legacyServiceRole ? [legacyServiceRole] : []),
  ];
  const jwtSecret = Deno.env.get("SUPABASE_JWT_SECRET") || Deno.env.get("JWT_SECRET") || undefined;
  const authAdmin = Deno.env.get("AUTH_ADMIN") || "supabase";
  if (authAdmin !== "supabase" && authAdmin !== "local") {
    throw new Error(`AUTH_ADMIN must be "supabase" or "local", not "${authAdmin}"`);
  }
  const sealingKey = Deno.env.get("SEALING_KEY");
  return {
    databaseUrl,
    databasePoolSize: Number(Deno.env.get("DB_POOL_SIZE") ?? 3),
    supabaseUrl: Deno.env.get("SUPABASE_URL") || undefined,
    jwtSecret,
    jwks: parseJwks(Deno.env.get("SUPABASE_JWKS")),
    secretKeys,
    authAdmin,
    resendApiKey: Deno.env.get("RESEND_API_KEY") || undefined,
    resendApiUrl: Deno.env.get("RESEND_API_URL") || "https://api.resend.com",
    emailFrom: Deno.env.get("EMAIL_FROM") || "Tripwire <no-reply@tripwire.local>",
    loginUrl: Deno.env.get("APP_LOGIN_URL") || "http://localhost:3000/login",
    sealingSecrets: [
      ...(sealingKey ? [sealingKey] : []),
      ...secretKeys,
      ...(jwtSecret ? [jwtSecret] : []),
    ],
  };
}

let current: Config | undefined;

/** The configuration of this isolate, loaded on first use. */
export function config(): Config {
  current ??= loadConfig();
  return current;
}

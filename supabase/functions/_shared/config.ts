/**
 * Configuration from the environment, under the names Supabase sets when deployed and the names the
 * local stack (`npm start`) sets, parsed once per isolate with a zod schema.
 */
import type { JSONWebKeySet } from "jose";
import { z } from "zod";

export interface Config {
  /**
   * The Postgres URL the functions use: TRIPWIRE_DB_URL when set (deployed: the project's Supavisor
   * transaction-mode string, port 6543), else SUPABASE_DB_URL (the direct connection Supabase sets), else
   * DATABASE_URL (locally).
   */
  databaseUrl: string;
  /** Connections per isolate; small, because every isolate has its own pool. DB_POOL_SIZE, 1–100. */
  databasePoolSize: number;
  /** No statement runs longer (DB_STATEMENT_TIMEOUT_MS, default 8 s): past it the client gets a 503. */
  statementTimeoutMs: number;
  /**
   * No request waits longer (REQUEST_DEADLINE_MS, default 10 s, at least the statement timeout): past it the
   * client gets a 503 with Retry-After, whatever the database or its driver is doing.
   */
  requestDeadlineMs: number;
  /**
   * Statements carrying heartbeats at once per isolate (HEARTBEAT_STATEMENTS, default 2, at most the pool):
   * while they all run, the heartbeats that come in wait and go together in the next one. Fewer, larger
   * statements won on a 2-core host (docs/benchmarks.md): at concurrency 32, p99 31–36 ms with 1 or 2 against
   * 45–50 ms with 5.
   */
  heartbeatStatements: number;
  /**
   * A student's heartbeats a second (HEARTBEATS_PER_SECOND, default 2) after a burst of 10: a player sends one
   * every few seconds; more is answered 429 with nothing written. The throughput benchmark lifts it.
   */
  heartbeatsPerSecond: number;
  /**
   * Origins a browser may call from (CORS_ALLOWED_ORIGINS, comma-separated; default `*`: tokens travel in the
   * Authorization header, never in cookies, so any origin is safe).
   */
  corsAllowedOrigins: "*" | string[];
  /** The project's API URL; its `/auth/v1/.well-known/jwks.json` serves the signing keys. */
  supabaseUrl?: string;
  /** Legacy symmetric JWT secret (HS256), if the project still signs with it. */
  jwtSecret?: string;
  /**
   * The key ids an HS256 token may name (JWT_SECRET_KID, comma-separated): a token naming another `kid`
   * is refused. Tokens without a `kid` (the legacy secret's) are accepted.
   */
  jwtSecretKids: string[];
  /** Asymmetric signing keys (SUPABASE_JWKS), when given inline. */
  jwks?: JSONWebKeySet;
  /** Server-to-server keys: the new secret keys and the legacy service_role key. */
  secretKeys: string[];
  /**
   * Whether webhook endpoints may be on this machine (`http://localhost`, 127.0.0.0/8, ::1): only where the
   * project runs locally (`npm start` and the tests set WEBHOOKS_TO_LOOPBACK=allowed). Never deployed.
   */
  webhooksToLoopback: boolean;
  /**
   * How many proxies in front of the functions append to X-Forwarded-For (TRUSTED_PROXY_HOPS): the client's
   * address is that many entries from the right (Supabase's gateway: 1, the default; `npm start`: 0, none).
   * It keys the per-client limits and goes into the audit.
   */
  trustedProxyHops: number;
  /**
   * The academy's country, ISO 3166-1 alpha-2 (ACADEMY_COUNTRY, default KZ): a phone written without its country
   * code (`8 701 123 45 67`) is read as this country's.
   */
  academyCountry: string;
  /**
   * Where a person checks a certificate (CERTIFICATE_PAGE_URL): the academy's public page, a template with
   * `{number}` and `{code}` (`https://academy.kz/certificates/{number}/{code}`). The certificate's QR code and
   * link lead there; locally, the web app's own page. Without it deployed they lead to the JSON check.
   */
  certificatePageUrl?: string;
  /**
   * Whether this is the local stack (`npm start` and the tests: LOCAL_STACK=on). Only there may an e-mail go
   * to the log instead of a provider, or a link fall back to this machine.
   */
  local: boolean;
  /**
   * Resend API key (RESEND_API_KEY). Locally, without it, e-mails go to the log; deployed, without it, e-mails
   * wait in the outbox (`welcome_email: "not_configured"`) and the status answer says degraded.
   */
  resendApiKey?: string;
  /**
   * Whether the frame counts requests for the Status screen (REQUEST_FIGURES, `on` unless `off`): per function,
   * route and minute, written at most once a minute per process.
   */
  requestFigures: boolean;
  /** Resend's API base URL (RESEND_API_URL), https://api.resend.com unless a test server stands in. */
  resendApiUrl: string;
  /** Sender of the welcome e-mail (EMAIL_FROM), a domain verified with the provider. */
  emailFrom: string;
  /**
   * Where the welcome e-mail sends the student to sign in (APP_LOGIN_URL): required deployed; locally the
   * reference web app's sign-in.
   */
  loginUrl: string;
  /**
   * Keys that seal a generated password while it waits for an idempotent replay or an e-mail retry:
   * SEALING_KEY if set, then the server-side secrets, so rotation leaves the old ones readable.
   */
  sealingSecrets: string[];
  /** The private Storage bucket holding the lesson videos (VIDEO_BUCKET, default `lesson-videos`). */
  videoBucket: string;
  /**
   * How long a signed video URL works, in seconds (VIDEO_URL_SECONDS, 10–86,400, default 300). Storage cannot
   * take back a URL it signed: this is how long a refunded or suspended student's player can keep loading
   * the video it already has; new URLs are refused at once. The player renews its URL before it runs out.
   */
  videoUrlSeconds: number;
  /**
   * The Standard Webhooks secret (`whsec_…`) a checkout or CRM signs paid orders with
   * (PAYMENTS_STANDARD_SECRET); without it, POST /payments/webhook/standard answers 503.
   */
  paymentsStandardSecret?: string;
  /**
   * The Standard Webhooks secret the academy's Main platform signs main-course purchases and refunds with
   * (MAIN_PLATFORM_WEBHOOK_SECRET); without it, POST /payments/webhook/main-course answers 503.
   */
  mainPlatformWebhookSecret?: string;
  /** CloudPayments' API secret, the HMAC key of its notifications (CLOUDPAYMENTS_API_SECRET). */
  cloudPaymentsApiSecret?: string;
  /**
   * CloudPayments' Public ID (CLOUDPAYMENTS_PUBLIC_ID): with the API secret, the Basic credentials of its API,
   * which an admin's "refund through the provider" calls; without it that action answers 503.
   */
  cloudPaymentsPublicId?: string;
  /** CloudPayments' API (CLOUDPAYMENTS_API_URL), https://api.cloudpayments.ru unless a test server stands in. */
  cloudPaymentsApiUrl: string;
}

/** The reference web app's sign-in, which `npm start` serves: the local stack's login link. */
const localLoginUrl = "http://127.0.0.1:54323/";

const optionalText = z.string().optional().transform((text) => text || undefined);

/** A JSON value in a variable; the variable's name leads the message when it is not JSON. */
const jsonText = z.string().transform((text, context) => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    context.addIssue({ code: "custom", message: "must be JSON" });
    return z.NEVER;
  }
});

/** SUPABASE_SECRET_KEYS: `{"name": "sb_secret_…", …}` as Supabase sets it (a bare string is accepted). */
const keyDictionary = jsonText.pipe(
  z.union([z.string(), z.record(z.string(), z.string())], "must be a JSON object of key names to keys"),
).transform((keys) => typeof keys === "string" ? [keys] : Object.values(keys));

/** SUPABASE_JWKS: a JSON Web Key Set, or a bare array of keys. */
const jwkSet = jsonText.pipe(
  z.union([
    z.object({ keys: z.array(z.looseObject({ kty: z.string() })) }),
    z.array(z.looseObject({ kty: z.string() })),
  ], "must be a JSON Web Key Set"),
).transform((set) => ({ keys: Array.isArray(set) ? set : set.keys }) as JSONWebKeySet);

/** CORS_ALLOWED_ORIGINS: `*` (or unset) for any origin, else a comma-separated list. */
function corsOrigins(text: string | undefined): "*" | string[] {
  return !text || text.trim() === "*" ? "*" : text.split(",").map((origin) => origin.trim()).filter(Boolean);
}

/**
 * The origins a browser may call from. Read on its own (the frame answers CORS before anything needs the
 * database), from the same variable and with the same rule as `config().corsAllowedOrigins`.
 */
export function corsAllowedOrigins(): "*" | string[] {
  return current?.corsAllowedOrigins ?? corsOrigins(Deno.env.get("CORS_ALLOWED_ORIGINS"));
}

const Environment = z.object({
  TRIPWIRE_DB_URL: optionalText,
  SUPABASE_DB_URL: optionalText,
  DATABASE_URL: optionalText,
  DB_POOL_SIZE: z.coerce.number("must be a whole number from 1 to 100").int().min(1).max(100).default(3),
  DB_STATEMENT_TIMEOUT_MS: z.coerce.number("must be a whole number of milliseconds").int().min(100)
    .max(600_000).default(8_000),
  REQUEST_DEADLINE_MS: z.coerce.number("must be a whole number of milliseconds").int().min(100).max(600_000)
    .optional(),
  HEARTBEAT_STATEMENTS: z.coerce.number("must be a whole number from 1 to 100").int().min(1).max(100)
    .optional(),
  HEARTBEATS_PER_SECOND: z.coerce.number("must be a positive number").positive().default(2),
  CORS_ALLOWED_ORIGINS: optionalText.transform((text) =>
    !text || text.trim() === "*"
      ? "*" as const
      : text.split(",").map((origin) => origin.trim()).filter(Boolean)
  ),
  SUPABASE_URL: optionalText.pipe(z.url("must be a URL").optional()),
  SUPABASE_JWT_SECRET: optionalText,
  JWT_SECRET: optionalText,
  JWT_SECRET_KID: optionalText,
  SUPABASE_JWKS: optionalText.pipe(jwkSet.optional()),
  SUPABASE_SECRET_KEYS: optionalText.pipe(keyDictionary.optional()),
  SUPABASE_SERVICE_ROLE_KEY: optionalText,
  LOCAL_STACK: optionalText.pipe(z.enum(["on", "off"], 'must be "on" or "off"').default("off")),
  CERTIFICATE_PAGE_URL: optionalText.pipe(
    z.url("must be a URL").refine(
      (url) => url.includes("{number}") && url.includes("{code}"),
      "must name {number} and {code}",
    ).optional(),
  ),
  ACADEMY_COUNTRY: optionalText.pipe(
    z.string().regex(/^[A-Z]{2}$/, "must be a country code such as KZ (ISO 3166-1 alpha-2)").default("KZ"),
  ),
  TRUSTED_PROXY_HOPS: z.coerce.number("must be a whole number from 0 to 5").int(
    "must be a whole number from 0 to 5",
  )
    .min(0, "must be a whole number from 0 to 5").max(5, "must be a whole number from 0 to 5").default(1),
  WEBHOOKS_TO_LOOPBACK: optionalText.pipe(
    z.enum(["allowed", "refused"], 'must be "allowed" or "refused"').default("refused"),
  ),
  RESEND_API_KEY: optionalText,
  REQUEST_FIGURES: optionalText.pipe(z.enum(["on", "off"], 'must be "on" or "off"').default("on")),
  RESEND_API_URL: optionalText.pipe(z.url("must be a URL").default("https://api.resend.com")),
  EMAIL_FROM: optionalText.pipe(z.string().default("Tripwire <no-reply@tripwire.local>")),
  APP_LOGIN_URL: optionalText.pipe(z.url("must be a URL").optional()),
  SEALING_KEY: optionalText,
  VIDEO_BUCKET: optionalText.pipe(
    z.string().regex(/^[a-z0-9][a-z0-9_-]{2,62}$/, "must be a Storage bucket name").default("lesson-videos"),
  ),
  VIDEO_URL_SECONDS: z.coerce.number("must be a whole number of seconds from 10 to 86400").int().min(10)
    .max(86_400).default(300),
  PAYMENTS_STANDARD_SECRET: optionalText.pipe(
    z.string().regex(
      /^whsec_[A-Za-z0-9+/]{32,}={0,2}$/,
      "must be a Standard Webhooks secret (whsec_ and base64)",
    )
      .optional(),
  ),
  MAIN_PLATFORM_WEBHOOK_SECRET: optionalText.pipe(
    z.string().regex(
      /^whsec_[A-Za-z0-9+/]{32,}={0,2}$/,
      "must be a Standard Webhooks secret (whsec_ and base64)",
    )
      .optional(),
  ),
  CLOUDPAYMENTS_API_SECRET: optionalText,
  CLOUDPAYMENTS_PUBLIC_ID: optionalText,
  CLOUDPAYMENTS_API_URL: optionalText.pipe(z.url("must be a URL").default("https://api.cloudpayments.ru")),
}).superRefine((env, context) => {
  if (!env.TRIPWIRE_DB_URL && !env.SUPABASE_DB_URL && !env.DATABASE_URL) {
    context.addIssue({
      code: "custom",
      path: ["TRIPWIRE_DB_URL"],
      message: "or SUPABASE_DB_URL or DATABASE_URL must be set",
    });
  }
  // Deployed, no link in an e-mail may lead to a machine that is not the academy's.
  if (env.LOCAL_STACK !== "on" && !env.APP_LOGIN_URL) {
    context.addIssue({
      code: "custom",
      path: ["APP_LOGIN_URL"],
      message: "must be set: the sign-in page the e-mails link to",
    });
  }
});

/**
 * Reads the configuration from the environment. A missing or malformed variable throws at once, with
 * every bad variable named, so a deployment fails at boot and never on its first request.
 */
export function loadConfig(env: Record<string, string> = Deno.env.toObject()): Config {
  const parsed = Environment.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`);
    throw new Error(`Bad configuration: ${problems.join("; ")}`);
  }
  const e = parsed.data;
  const loginUrl = e.APP_LOGIN_URL ?? localLoginUrl;
  const secretKeys = [
    ...(e.SUPABASE_SECRET_KEYS ?? []),
    ...(e.SUPABASE_SERVICE_ROLE_KEY ? [e.SUPABASE_SERVICE_ROLE_KEY] : []),
  ];
  const jwtSecret = e.SUPABASE_JWT_SECRET ?? e.JWT_SECRET;
  return {
    databaseUrl: (e.TRIPWIRE_DB_URL ?? e.SUPABASE_DB_URL ?? e.DATABASE_URL)!,
    databasePoolSize: e.DB_POOL_SIZE,
    statementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
    requestDeadlineMs: e.REQUEST_DEADLINE_MS ?? Math.max(10_000, e.DB_STATEMENT_TIMEOUT_MS + 2_000),
    heartbeatStatements: e.HEARTBEAT_STATEMENTS ?? Math.min(2, e.DB_POOL_SIZE),
    heartbeatsPerSecond: e.HEARTBEATS_PER_SECOND,
    corsAllowedOrigins: e.CORS_ALLOWED_ORIGINS,
    supabaseUrl: e.SUPABASE_URL,
    jwtSecret,
    jwtSecretKids: (e.JWT_SECRET_KID ?? "").split(",").map((kid) => kid.trim()).filter(Boolean),
    jwks: e.SUPABASE_JWKS,
    secretKeys,
    webhooksToLoopback: e.WEBHOOKS_TO_LOOPBACK === "allowed",
    trustedProxyHops: e.TRUSTED_PROXY_HOPS,
    academyCountry: e.ACADEMY_COUNTRY,
    certificatePageUrl: e.CERTIFICATE_PAGE_URL ??
      (e.LOCAL_STACK === "on" ? `${loginUrl}#/verify/{number}/{code}` : undefined),
    local: e.LOCAL_STACK === "on",
    resendApiKey: e.RESEND_API_KEY,
    resendApiUrl: e.RESEND_API_URL,
    requestFigures: e.REQUEST_FIGURES === "on",
    emailFrom: e.EMAIL_FROM,
    loginUrl,
    sealingSecrets: [
      ...(e.SEALING_KEY ? [e.SEALING_KEY] : []),
      ...secretKeys,
      ...(jwtSecret ? [jwtSecret] : []),
    ],
    videoBucket: e.VIDEO_BUCKET,
    videoUrlSeconds: e.VIDEO_URL_SECONDS,
    paymentsStandardSecret: e.PAYMENTS_STANDARD_SECRET,
    mainPlatformWebhookSecret: e.MAIN_PLATFORM_WEBHOOK_SECRET,
    cloudPaymentsApiSecret: e.CLOUDPAYMENTS_API_SECRET,
    cloudPaymentsPublicId: e.CLOUDPAYMENTS_PUBLIC_ID,
    cloudPaymentsApiUrl: e.CLOUDPAYMENTS_API_URL,
  };
}

let current: Config | undefined;

/** The configuration of this isolate, loaded on first use (or at boot by `serve`). */
export function config(): Config {
  current ??= loadConfig();
  return current;
}

/**
 * The project's URL and the secret key it calls itself with (Storage, another of its functions); throws naming
 * the variables when either is missing.
 */
export function projectKey(): { supabaseUrl: string; secretKey: string } {
  const { supabaseUrl, secretKeys } = config();
  if (!supabaseUrl || secretKeys.length === 0) {
    throw new Error(
      "Calling the project needs SUPABASE_URL and SUPABASE_SECRET_KEYS or SUPABASE_SERVICE_ROLE_KEY",
    );
  }
  return { supabaseUrl, secretKey: secretKeys[0] };
}

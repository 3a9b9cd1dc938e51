/**
 * The HTTP frame every function shares: base path, CORS, request id, body limit, authentication
 * and role checks, zod validation, and one error handler that renders DESIGN.md's JSON errors.
 */
import { type Context, Hono } from "hono";
import { createHash } from "node:crypto";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import { validator } from "hono/validator";
import type { z } from "zod";
import {
  assertRole,
  authenticate,
  type AuthUser,
  bearerToken,
  type Claims,
  type Role,
  verifyJwt,
} from "./auth.ts";
import { config } from "./config.ts";
import { errorBody, HttpError, toHttpError } from "./errors.ts";

export interface AppEnv {
  Variables: { user: AuthUser; claims: Claims; requestId: string };
}

const maxBodyBytes = 64 * 1024;
const requestIdPattern = /^[A-Za-z0-9._-]{8,128}$/;

function allowedOrigins(): string | string[] {
  const configured = Deno.env.get("CORS_ALLOWED_ORIGINS");
  // Tokens travel in the Authorization header, never in cookies, so any origin is safe by default.
  if (!configured || configured.trim() === "*") return "*";
  return configured.split(",").map((origin) => origin.trim()).filter(Boolean);
}

/**
 * A Hono app for one edge function. Supabase hands a function requests whose path starts with the
 * function's name (`/leaderboard/chart`), so that is the base path, locally and deployed.
 */
export function createApp(functionName: string) {
  const app = new Hono<AppEnv>().basePath(`/${functionName}`);

  app.use(
    "*",
    cors({
      origin: allowedOrigins(),
      allowMethods: ["GET", "POST", "OPTIONS"],
      allowHeaders: [
        "authorization",
        "apikey",
        "content-type",
        "x-client-info",
        "x-region",
        "idempotency-key",
        "if-none-match",
        "x-request-id",
      ],
      exposeHeaders: ["etag", "x-request-id", "retry-after"],
      maxAge: 86400,
    }),
  );

  app.use("*", async (c, next) => {
    const given = c.req.header("x-request-id");
    const requestId = given && requestIdPattern.test(given) ? given : crypto.randomUUID();
    c.set("requestId", requestId);
    await next();
    c.header("x-request-id", requestId);
  });

  app.use(
    "*",
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: () => {
        throw new HttpError(
          400,
          "validation_failed",
          `The request body is larger than ${maxBodyBytes} bytes`,
          [
            { path: "", message: `at most ${maxBodyBytes} bytes` },
          ],
        );
      },
    }),
  );

  app.notFound((c) => c.json(errorBody(new HttpError(404, "not_found", "No such route")), 404));

  app.onError((thrown, c) => {
    const requestId = c.get("requestId");
    let error: HttpError;
    if (thrown instanceof HTTPException) {
      // Hono's own parsing errors (malformed JSON, wrong content type) are bad input.
      error = thrown.status === 400
        ? new HttpError(
          400,
          "validation_failed",
          "The request body must be valid JSON sent as application/json",
          [
            { path: "", message: "a JSON body with Content-Type: application/json" },
          ],
        )
        : new HttpError(thrown.status as 400, "http_error", thrown.message || "Request refused");
    } else {
      error = toHttpError(thrown);
    }
    if (!(thrown instanceof HttpError) && !(thrown instanceof HTTPException)) {
      // An unexpected fault: the cause goes to the log with the request id, the client gets the id.
      console.error(JSON.stringify({
        level: "error",
        function: functionName,
        request_id: requestId,
        method: c.req.method,
        path: c.req.path,
        error: thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown),
        sqlstate: (thrown as { code?: unknown })?.code,
      }));
    }
    if (error.status === 401) c.header("www-authenticate", 'Bearer realm="tripwire"');
    c.header("x-request-id", requestId);
    return c.json(errorBody(error, requestId), error.status);
  });

  return app;
}

/** Authenticates the caller and admits only the given roles (401 without a valid token, 403 otherwise). */
export function requireRole(...roles: Role[]) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const user = await authenticate(c.req.header("authorization"));
    assertRole(user.role, roles);
    c.set("user", user);
    await next();
  });
}

/**
 * Verifies the token only (401 without a valid one) and leaves the role to the handler's own SQL,
 * which must read it from `public.users` in the same statement and refuse with `assertRole` before
 * anything is written. For the hottest route, where the role read was a whole extra round trip.
 */
export function requireToken() {
  return createMiddleware<AppEnv>(async (c, next) => {
    c.set("claims", await verifyJwt(bearerToken(c.req.header("authorization"))));
    await next();
  });
}

/** Turns zod issues into `details: [{path, message}]` with dotted field paths. */
export function validationError(issues: z.core.$ZodIssue[]): HttpError {
  const details = issues.flatMap((issue) =>
    // An unknown field is reported at its own path, not at the object that holds it.
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => ({
        path: [...issue.path, key].map(String).join("."),
        message: "unknown field",
      }))
      : [{ path: issue.path.map(String).join("."), message: issue.message }]
  );
  const first = details[0];
  const message = first ? `${first.path || "body"}: ${first.message}` : "The request is not valid";
  return new HttpError(400, "validation_failed", message, details);
}

/**
 * Admits only server-to-server callers (a scheduler, Supabase Cron): the request must carry one of
 * the project's secret keys or the legacy service_role key, as `apikey` or as the bearer token.
 */
export function requireServiceRole() {
  return createMiddleware<AppEnv>(async (c, next) => {
    const presented = c.req.header("apikey") ??
      c.req.header("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1];
    if (!presented) throw new HttpError(401, "missing_token", "A secret key is required");
    if (!config().secretKeys.some((key) => sameSecret(key, presented))) {
      throw new HttpError(403, "forbidden", "Only the service role may do this");
    }
    await next();
  });
}

/** Compares two secrets in time independent of where they differ. */
function sameSecret(expected: string, presented: string): boolean {
  const a = new TextEncoder().encode(expected);
  const b = new TextEncoder().encode(presented);
  let difference = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ (b[i % (b.length || 1)] ?? 0);
  return difference === 0;
}

/** Validates the JSON body against a zod schema; bad input → 400 `validation_failed`. */
export function zJson<T extends z.ZodType>(schema: T) {
  return validator("json", (value) => {
    const result = schema.safeParse(value);
    if (!result.success) throw validationError(result.error.issues);
    return result.data as z.output<T>;
  });
}

/** Validates the query string against a zod schema; bad input → 400 `validation_failed`. */
export function zQuery<T extends z.ZodType>(schema: T) {
  return validator("query", (value) => {
    const result = schema.safeParse(value);
    if (!result.success) throw validationError(result.error.issues);
    return result.data as z.output<T>;
  });
}

/** A strong validator for a body: its SHA-256, base64url, quoted. */
export function etagOf(body: string): string {
  // node:crypto hashes synchronously: ≈ 3 µs here, where crypto.subtle.digest's async round took ≈ 80 µs.
  return `"${createHash("sha256").update(body).digest("base64url")}"`;
}

/** True when an If-None-Match header names this ETag (weak or strong, as RFC 9110 compares for GET). */
export function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === "*") return true;
  return ifNoneMatch.split(",").some((candidate) => candidate.trim().replace(/^W\//, "") === etag);
}

/**
 * Answers JSON with an ETag, or 304 with no body when the client already holds this exact answer.
 * `version` is what the ETag is computed from when part of the value (a live feed's read time) should
 * not make an unchanged answer look new.
 * `private, no-cache`: a browser keeps it but asks again every time; shared caches never keep it.
 */
export function jsonWithEtag(
  c: Context<AppEnv>,
  value: unknown,
  version: unknown = value,
): Response {
  const body = JSON.stringify(value);
  const etag = etagOf(version === value ? body : JSON.stringify(version));
  c.header("etag", etag);
  c.header("cache-control", "private, no-cache");
  c.header("vary", "Authorization");
  if (matchesEtag(c.req.header("if-none-match"), etag)) return c.body(null, 304);
  return c.body(body, 200, { "content-type": "application/json; charset=UTF-8" });
}

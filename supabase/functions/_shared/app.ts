/**
 * The HTTP frame every function shares: base path, CORS, request id, body limit, authentication
 * and role checks, zod validation, 405 for a known path with another method, the function's OpenAPI
 * document, and one error handler that renders the JSON error body (docs/architecture.md, Errors).
 */
import type { Language } from "./language.ts";
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import { matchedRoutes } from "hono/route";
import { HTTPException } from "hono/http-exception";
import { validator } from "hono-openapi";
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
import { withRequestOrigin } from "./request_origin.ts";
import { config, corsAllowedOrigins } from "./config.ts";
import { errorBody, HttpError, retryAfterSeconds, toHttpError } from "./errors.ts";
import { sha256 } from "./hash.ts";
import { noControlCharacters } from "./input.ts";
import { describeError, log, withRequestContext } from "./log.ts";
import { type Document, functionDocument, undocumented } from "./openapi.ts";
import { countRequest } from "./request_figures.ts";

export interface AppEnv {
  Variables: { user: AuthUser; claims: Claims; requestId: string; language: Language | null };
}

/** The largest request body any route takes; the local front (guarded_server.ts) refuses larger ones too. */
export const maxBodyBytes = 64 * 1024;
const requestIdPattern = /^[A-Za-z0-9._-]{8,128}$/;

/** The Access-Control-Allow-Origin for a request's origin (config.ts, CORS_ALLOWED_ORIGINS). */
function allowedOrigin(origin: string): string | null {
  const allowed = corsAllowedOrigins();
  if (allowed === "*") return "*";
  return allowed.includes(origin) ? origin : null;
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
      origin: allowedOrigin,
      allowMethods: ["GET", "HEAD", "POST", "PUT", "OPTIONS"],
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
      exposeHeaders: ["etag", "x-request-id", "retry-after", "allow", "idempotent-replayed"],
      maxAge: 86400,
    }),
  );

  // The Status screen's figures: every answer counted by route pattern (never the raw path: ids would make
  // every student a route), written at most once a minute (request_figures.ts).
  app.use("*", async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const route = matchedRoutes(c).filter((r) => r.method !== "ALL").at(-1)?.path;
      countRequest(
        functionName,
        route
          ? `${c.req.method} ${route.slice(functionName.length + 1) || "/"}`
          : `${c.req.method} (no route)`,
        c.res.status,
        performance.now() - started,
      );
    }
  });

  app.use("*", async (c, next) => {
    const given = c.req.header("x-request-id");
    const requestId = given && requestIdPattern.test(given) ? given : crypto.randomUUID();
    c.set("requestId", requestId);
    await withRequestContext(
      { function: functionName, request_id: requestId },
      () => withRequestOrigin(c.req.raw.headers, requestId, next),
    );
    c.header("x-request-id", requestId);
  });

  // Query-string text gets the body's rule on typed text (no control characters), for every route at once:
  // a NUL reaching Postgres is a 500 (SQLSTATE 22021), any other is stored or searched for nothing.
  app.use("*", async (c, next) => {
    const refused = [...new URL(c.req.url).searchParams].filter(([, value]) =>
      !noControlCharacters.test(value)
    );
    if (refused.length > 0) {
      throw validationError(refused.map(([name]) => ({ path: [name], message: "no control characters" })));
    }
    await next();
  });

  // Every request has a deadline: past it the client gets a 503 with Retry-After, whatever the database or
  // its driver is doing (a connection that died under a query can leave it waiting for ever). The work goes
  // on in the background; what it may still write is what a retry with the same Idempotency-Key replays.
  app.use("*", async (c, next) => {
    const work = next();
    work.catch(() => {}); // settled or not, after the deadline nobody awaits it
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        log("warn", "deadline_exceeded", { method: c.req.method, path: c.req.path });
        reject(new HttpError(503, "service_unavailable", "The request took too long; retry it shortly"));
      }, config().requestDeadlineMs);
    });
    try {
      await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
    }
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

  let document: Promise<Document> | undefined;
  app.get("/openapi.json", undocumented, async (c) => {
    document ??= functionDocument(functionName, app);
    c.header("cache-control", "public, max-age=300");
    return c.json(await document);
  });

  app.notFound((c) => {
    const allowed = allowedMethods(app, c.req.path);
    if (allowed.length === 0) return c.json(errorBody(new HttpError(404, "not_found", "No such route")), 404);
    c.header("allow", allowed.join(", "));
    return c.json(
      errorBody(new HttpError(405, "method_not_allowed", `This route answers ${allowed.join(", ")}`)),
      405,
    );
  });

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
    if (error.status >= 500 && !(thrown instanceof HttpError)) {
      // A fault (500) or the database unavailable (503): the cause goes to the log with the request id,
      // the client gets the id. Refused requests (4xx) are the client's business and are not logged.
      log(error.status === 503 ? "warn" : "error", error.code, {
        function: functionName,
        request_id: requestId,
        method: c.req.method,
        path: c.req.path,
        error: describeError(thrown),
        sqlstate: (thrown as { code?: unknown })?.code,
      });
    }
    if (error.status === 401) c.header("www-authenticate", 'Bearer realm="tripwire"');
    if (error.status === 503) c.header("retry-after", String(retryAfterSeconds));
    if (error.status === 429) {
      const wait = (error.details as { retry_after_seconds?: number } | undefined)?.retry_after_seconds;
      c.header("retry-after", String(Math.max(1, wait ?? 1)));
    }
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
 * anything is written. For the hottest routes (the heartbeat, the dashboard's GET), where the role read was
 * a whole extra round trip; and for RPCs run through `asCaller`, where SQL decides.
 */
export function requireToken() {
  return createMiddleware<AppEnv>(async (c, next) => {
    c.set("claims", await verifyJwt(bearerToken(c.req.header("authorization"))));
    await next();
  });
}

/** A validation issue as Standard Schema reports it (zod's issues are such). */
interface Issue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>;
}

/** Turns validation issues into `details: [{path, message}]` with dotted field paths. */
export function validationError(issues: readonly Issue[]): HttpError {
  const details = issues.flatMap((issue) => {
    const path = (issue.path ?? []).map((segment) => typeof segment === "object" ? segment.key : segment);
    const unknownKeys = (issue as Partial<z.core.$ZodIssueUnrecognizedKeys>).keys;
    // An unknown field is reported at its own path, not at the object that holds it.
    return unknownKeys
      ? unknownKeys.map((key) => ({ path: [...path, key].map(String).join("."), message: "unknown field" }))
      : [{ path: path.map(String).join("."), message: issue.message }];
  });
  const first = details[0];
  const message = first ? `${first.path || "body"}: ${first.message}` : "The request is not valid";
  return new HttpError(400, "validation_failed", message, details);
}

/** One field's 400, as `validationError` words it: a check zod cannot make (it needs the database). */
export function fieldError(path: string, message: string): HttpError {
  return validationError([{ path: [path], message }]);
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

/**
 * Validates one part of the request against a zod schema (bad input → 400 `validation_failed`) and
 * describes it in the function's OpenAPI document.
 */
function zValidator<Target extends "json" | "query" | "param", T extends z.ZodType>(
  target: Target,
  schema: T,
) {
  return validator(target, schema, (result) => {
    if (!result.success) throw validationError(result.error);
  });
}

/** Validates the JSON body. */
export const zJson = <T extends z.ZodType>(schema: T) => zValidator("json", schema);
/** Validates the query string. */
export const zQuery = <T extends z.ZodType>(schema: T) => zValidator("query", schema);
/** Validates the path parameters. */
export const zParam = <T extends z.ZodType>(schema: T) => zValidator("param", schema);

/** The methods a path answers (HEAD wherever GET), or none when no route has this path. */
function allowedMethods(app: Hono<AppEnv>, path: string): string[] {
  const methods = new Set<string>();
  for (const route of app.routes) {
    if (route.method === "ALL" || !routePattern(route.path).test(path)) continue;
    methods.add(route.method);
    if (route.method === "GET") methods.add("HEAD");
  }
  if (methods.size > 0) methods.add("OPTIONS");
  return [...methods];
}

const routePatterns = new Map<string, RegExp>();

function routePattern(path: string): RegExp {
  let pattern = routePatterns.get(path);
  if (!pattern) {
    const source = path.split("/").map((part) =>
      part.startsWith(":") ? "[^/]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
    ).join("/");
    pattern = new RegExp(`^${source}/?$`);
    routePatterns.set(path, pattern);
  }
  return pattern;
}

/** A strong validator for a body: its SHA-256, base64url, quoted. */
export function etagOf(body: string): string {
  return `"${sha256(body, "base64url")}"`;
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

/**
 * Serves one function alone, as Supabase runs it. The configuration is parsed first, so a missing or
 * malformed variable stops the boot with its name instead of failing the first request.
 */
export function serve(app: { fetch: (request: Request) => Response | Promise<Response> }): Deno.HttpServer {
  config();
  return Deno.serve(app.fetch);
}

/**
 * The one error type and the JSON error body (docs/architecture.md, Errors):
 * `{"error": {"code": "…", "message": "…", "details": …}}`.
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";

/**
 * Every `code` an error answer can carry: stable, for programs (the web app shows each from its own catalogue,
 * in the reader's language; `tests/i18n_test.ts` holds the catalogue to this list).
 */
export const errorCodes = [
  "access_revoked",
  "account_deactivated",
  "already_erased",
  "already_refunded",
  "already_resolved",
  "auth_unavailable",
  "busy",
  "cannot_deactivate_self",
  "certificate_not_found",
  "certificate_revoked",
  "conflict",
  "delivery_not_found",
  "email_exists",
  "endpoint_not_found",
  "forbidden",
  "http_error",
  "idempotency_key_reused",
  "illegal_transition",
  "internal_error",
  "invalid_signature",
  "invalid_token",
  "last_admin",
  "lesson_locked",
  "lesson_not_found",
  "method_not_allowed",
  "missing_token",
  "not_found",
  "offer_not_found",
  "provider_error",
  "provider_not_configured",
  "purchase_unknown",
  "refund_exceeds_payment",
  "request_in_progress",
  "review_not_found",
  "service_unavailable",
  "staff_not_found",
  "storage_unavailable",
  "student_not_found",
  "too_many_creations",
  "too_many_heartbeats",
  "validation_failed",
  "video_not_found",
  "watch_threshold_not_met",
] as const;
export type ErrorCode = (typeof errorCodes)[number];

export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown; request_id?: string };
}

interface PostgresLikeError {
  code?: unknown;
  constraint_name?: unknown;
  message?: unknown;
  routine?: unknown;
}

interface Mapping {
  status: ContentfulStatusCode;
  code: ErrorCode;
  message: string;
  /**
   * Safe to show: when our own SQL raised it (`raise exception … using errcode`, which Postgres reports
   * from the routine exec_stmt_raise), the client gets that message instead of `message`. A message
   * Postgres itself wrote may name tables or values, so it is never shown.
   */
  ownMessageShown?: true;
}

const dataRule: Mapping = {
  status: 400,
  code: "validation_failed",
  message: "The request breaks a data rule",
};
const conflictRetry: Mapping = {
  status: 503,
  code: "busy",
  message: "The request conflicted with another; retry it",
};

/** Every SQLSTATE the functions answer as something other than 500, in one place. */
const bySqlstate: Record<string, Mapping> = {
  "23505": { status: 409, code: "conflict", message: "The resource already exists" },
  "23503": { status: 409, code: "conflict", message: "A referenced resource does not exist" },
  "23514": dataRule,
  "23502": dataRule,
  "22P02": dataRule,
  "22003": dataRule,
  "22001": dataRule,
  // A character the database cannot hold (a NUL): the input rules refuse it first; this is the net.
  "22021": dataRule,
  "22023": {
    status: 400,
    code: "validation_failed",
    message: "A parameter is not valid",
    ownMessageShown: true,
  },
  "P0002": { status: 404, code: "not_found", message: "Not found", ownMessageShown: true },
  "42501": { status: 403, code: "forbidden", message: "Not allowed", ownMessageShown: true },
  "40001": conflictRetry,
  "40P01": conflictRetry,
};

/**
 * Maps a thrown value to an HttpError: our own errors pass through, Postgres SQLSTATEs map in this
 * one place, anything else is a real fault (500). No query, stack or Postgres detail leaves here.
 */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  const { code, message, routine } = (error ?? {}) as PostgresLikeError;
  const mapping = typeof code === "string" ? bySqlstate[code] : undefined;
  if (mapping) {
    const raisedByUs = routine === "exec_stmt_raise" && typeof message === "string";
    return new HttpError(
      mapping.status,
      mapping.code,
      mapping.ownMessageShown && raisedByUs ? message : mapping.message,
    );
  }
  if (isDatabaseUnavailable(error)) {
    return new HttpError(
      503,
      "service_unavailable",
      "The database is unavailable or overloaded; retry shortly",
    );
  }
  return new HttpError(500, "internal_error", "Something went wrong on our side");
}

/**
 * True when the database could not answer (down, restarting, the connection cut, overloaded): what `toHttpError`
 * answers 503 `service_unavailable`, as opposed to a refusal or a fault.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const { code } = (error ?? {}) as PostgresLikeError;
  return typeof code === "string" && isUnavailable(code);
}

/** True for a unique violation of one of these constraints (a duplicate the caller can be told about). */
export function isUniqueViolation(error: unknown, constraints: readonly string[]): boolean {
  const { code, constraint_name } = (error ?? {}) as PostgresLikeError;
  return code === "23505" && typeof constraint_name === "string" && constraints.includes(constraint_name);
}

/** Seconds a client is asked to wait (Retry-After) after a 503. */
export const retryAfterSeconds = 2;

/**
 * The database cannot answer now, through no fault of the request: the connection failed (postgres.js
 * and Node name these), SQLSTATE class 08 (connection exception) or 53 (insufficient resources, e.g.
 * 53300 too many connections), 57P01–57P03 (shut down, restarting), 57014 (statement timeout).
 */
function isUnavailable(code: string): boolean {
  return unavailableConnectionCodes.has(code) || /^(08|53)[0-9A-Z]{3}$/.test(code) ||
    ["57P01", "57P02", "57P03", "57014"].includes(code);
}

const unavailableConnectionCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
]);

/** Builds the JSON body for an error. */
export function errorBody(error: HttpError, requestId?: string): ErrorBody {
  const body: ErrorBody = { error: { code: error.code, message: error.message } };
  if (error.details !== undefined) body.error.details = error.details;
  if (requestId && error.status >= 500) body.error.request_id = requestId;
  return body;
}

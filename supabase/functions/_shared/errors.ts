/**
 * The one error type and the JSON error body (docs/architecture.md, Errors):
 * `{"error": {"code": "…", "message": "…", "details": …}}`.
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";

export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
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
}

/**
 * Maps a thrown value to an HttpError: our own errors pass through, Postgres SQLSTATEs map in this
 * one place, anything else is a real fault (500). No query, stack or Postgres detail leaves here.
 */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  const code = (error as PostgresLikeError | null)?.code;
  switch (code) {
    case "23505":
      return new HttpError(409, "conflict", "The resource already exists");
    case "23503":
      return new HttpError(409, "conflict", "A referenced resource does not exist");
    case "23514":
    case "23502":
    case "22P02":
    case "22003":
    case "22001":
      return new HttpError(400, "validation_failed", "The request breaks a data rule");
    case "42501":
      return new HttpError(403, "forbidden", "Not allowed");
    case "40001":
    case "40P01":
      return new HttpError(503, "busy", "The request conflicted with another; retry it");
  }
  if (typeof code === "string" && isUnavailable(code)) {
    return new HttpError(
      503,
      "service_unavailable",
      "The database is unavailable or overloaded; retry shortly",
    );
  }
  return new HttpError(500, "internal_error", "Something went wrong on our side");
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

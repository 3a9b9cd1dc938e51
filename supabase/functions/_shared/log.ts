/**
 * The one log format: a JSON line per event with its level, the function and the request id (carried
 * through the request by the frame, so code deep in a capability need not pass them along).
 */
import { AsyncLocalStorage } from "node:async_hooks";

export type Level = "info" | "warn" | "error";

interface RequestContext {
  function: string;
  request_id: string;
}

const requestContext = new AsyncLocalStorage<RequestContext>();

/** Runs `work` with every log line inside it naming this function and request. */
export function withRequestContext<T>(context: RequestContext, work: () => T): T {
  return requestContext.run(context, work);
}

/** Writes one structured line: `{"level", "event", "function", "request_id", …fields}`. */
export function log(level: Level, event: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ level, event, ...requestContext.getStore(), ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

/** An error as a log field: name and message, never a stack, a query or a Postgres detail. */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

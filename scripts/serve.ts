/**
 * Serves every edge function from one Deno process at /functions/v1/<name>, the URLs supabase-js
 * uses against a local Supabase. Each function still runs alone under Deno.serve when deployed.
 */
import { app as completeLesson } from "../supabase/functions/complete-lesson/index.ts";
import { app as createTripwireUser } from "../supabase/functions/create-tripwire-user/index.ts";
import { app as leaderboard } from "../supabase/functions/leaderboard/index.ts";
import { app as videoTracking } from "../supabase/functions/video-tracking/index.ts";
import { errorBody, HttpError } from "../supabase/functions/_shared/errors.ts";
import { functionsPort } from "./lib/local_stack.ts";

interface FetchHandler {
  fetch(request: Request): Response | Promise<Response>;
}

/** The functions served locally, by URL name. */
export const functions: Record<string, FetchHandler> = {
  "complete-lesson": completeLesson,
  "create-tripwire-user": createTripwireUser,
  "leaderboard": leaderboard,
  "video-tracking": videoTracking,
};

/** Routes /functions/v1/<name>/<rest> to the function, which sees /<name>/<rest> as on Supabase. */
export function handleFunctionsRequest(request: Request): Response | Promise<Response> {
  const url = new URL(request.url);
  const match = url.pathname.match(/^\/functions\/v1\/([a-z0-9-]+)(\/.*)?$/);
  const handler = match ? functions[match[1]] : undefined;
  if (!match || !handler) {
    return Response.json(errorBody(new HttpError(404, "not_found", "No such function")), { status: 404 });
  }
  url.pathname = `/${match[1]}${match[2] ?? ""}`;
  // Headers and body move over; the signal does not, as Deno.serve aborts it after every response.
  return handler.fetch(
    new Request(url, { method: request.method, headers: request.headers, body: request.body }),
  );
}

/** Starts the local functions server. */
export function serveFunctions(port = functionsPort, hostname = "127.0.0.1"): Deno.HttpServer {
  return Deno.serve({ port, hostname, onListen: () => {} }, handleFunctionsRequest);
}

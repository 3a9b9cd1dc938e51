/**
 * Serves every edge function from one Deno process at /functions/v1/<name>, the URLs supabase-js
 * uses against a local Supabase, with the merged OpenAPI document and the API reference beside them.
 * Each function still runs alone under Deno.serve when deployed.
 */
import { config } from "../supabase/functions/_shared/config.ts";
import { errorBody, HttpError } from "../supabase/functions/_shared/errors.ts";
import { apiDocument, serveApiReference } from "./lib/api_document.ts";
import { functions } from "./lib/functions.ts";
import { type GuardedServer, serveGuarded } from "./lib/guarded_server.ts";
import type { LocalAuth } from "./lib/local_auth/server.ts";
import { functionsPort } from "./lib/local_stack.ts";
import { type LocalStorage, startLocalStorage } from "./lib/local_storage.ts";

let document: Promise<string> | undefined;

/**
 * Routes /functions/v1/<name>/<rest> to the function, which sees /<name>/<rest> as on Supabase; answers
 * the merged OpenAPI document at /functions/v1/openapi.json and the API reference at /functions/v1/docs.
 */
export async function handleFunctionsRequest(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (request.method === "GET" || request.method === "HEAD") {
    if (url.pathname === "/functions/v1/openapi.json") {
      document ??= apiDocument(functions).then((merged) => JSON.stringify(merged));
      // The reference's "try it" goes to this stack, on whatever port it was given.
      // (Behind the guard's Unix socket the URL has no origin: the Host header names the port.)
      const served = JSON.parse(await document);
      const host = request.headers.get("host") ?? "";
      if (/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(host)) served.servers[0].url = `http://${host}/functions/v1`;
      return new Response(JSON.stringify(served), {
        headers: { "content-type": "application/json; charset=UTF-8", "access-control-allow-origin": "*" },
      });
    }
    const reference = await serveApiReference(url.pathname);
    if (reference) return reference;
  }
  const match = url.pathname.match(/^\/functions\/v1\/([a-z0-9-]+)(\/.*)?$/);
  const handler = match ? functions[match[1]] : undefined;
  if (!match || !handler) {
    return Response.json(errorBody(new HttpError(404, "not_found", "No such function")), { status: 404 });
  }
  url.pathname = `/${match[1]}${match[2] ?? ""}`;
  // Headers and body move over; the signal does not, as Deno.serve aborts it after every response.
  return await handler.fetch(
    new Request(url, { method: request.method, headers: request.headers, body: request.body }),
  );
}

const servableMethods = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * What the local stack answers on one port, as a local Supabase does: the functions, the local sign-in
 * at /auth/v1 (when given) and the local Storage at /storage/v1 (the private lesson videos).
 */
export function localStackHandler(
  auth?: LocalAuth,
  options: { writtenObjects?: string } = {},
): (request: Request) => Promise<Response> {
  // Storage signs with the stack's JWT secret and takes its secret keys as the service role.
  let storage: LocalStorage | undefined;
  const localStorage = () =>
    storage ??= startLocalStorage({
      jwtSecret: config().jwtSecret ?? "",
      secretKeys: config().secretKeys,
      writtenObjects: options.writtenObjects,
    });
  return async (request) => {
    // TRACE, TRACK and CONNECT: nothing here serves them, and a Request cannot even be made with them.
    if (!servableMethods.has(request.method)) {
      return Response.json(
        errorBody(new HttpError(405, "method_not_allowed", `${request.method} is not served`)),
        {
          status: 405,
          headers: { allow: "GET, HEAD, POST, OPTIONS" },
        },
      );
    }
    const { pathname } = new URL(request.url);
    if (pathname === "/auth/v1" || pathname.startsWith("/auth/v1/")) {
      if (auth) return await auth.fetch(request);
      return Response.json({ code: 404, error_code: "not_found", msg: "Local sign-in is off" }, {
        status: 404,
      });
    }
    if (pathname.startsWith("/storage/v1/")) return await localStorage().fetch(request);
    return await handleFunctionsRequest(request);
  };
}

/**
 * Starts the local stack's server: functions, sign-in (when given) and Storage, behind the guard
 * that keeps a hostile client from taking it down (scripts/lib/guarded_server.ts).
 */
export async function serveLocalStack(
  options: { auth?: LocalAuth; port?: number; hostname?: string } = {},
): Promise<GuardedServer> {
  config(); // a bad variable stops the start here, with its name
  return await serveGuarded(
    { port: options.port ?? functionsPort, hostname: options.hostname ?? "127.0.0.1" },
    localStackHandler(options.auth),
  );
}

/**
 * Supabase Auth as a test watches it: the local stand-in (scripts/lib/local_auth/) behind a server of its own that
 * records every request and, told to, answers the next `POST /admin/users` with GoTrue's 500 — before the
 * stand-in stored the user, or after.
 */
import { type LocalAuth, startLocalAuth } from "../../scripts/lib/local_auth/server.ts";

export interface RecordedAuthRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Record<string, unknown> | null;
}

export interface AuthServer {
  url: string;
  requests: RecordedAuthRequest[];
  /** The next create answers 500 (GoTrue's `unexpected_failure`) after storing the user or without. */
  failNextCreate(mode: "before_storing" | "after_storing"): void;
  close(): Promise<void>;
}

const unexpectedFailure = () =>
  Response.json({ code: 500, error_code: "unexpected_failure", msg: "Unexpected failure" }, { status: 500 });

/** Serves `auth` on a port of its own, recording; `owned` is closed with it. */
export function startAuthServer(auth: LocalAuth, owned?: LocalAuth): AuthServer {
  const requests: RecordedAuthRequest[] = [];
  let nextCreateFailure: "before_storing" | "after_storing" | undefined;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const url = new URL(request.url);
    const text = await request.clone().text();
    requests.push({
      method: request.method,
      path: url.pathname,
      headers: Object.fromEntries(request.headers),
      body: text ? JSON.parse(text) : null,
    });
    if (request.method === "POST" && url.pathname === "/auth/v1/admin/users" && nextCreateFailure) {
      const failure = nextCreateFailure;
      nextCreateFailure = undefined;
      if (failure === "before_storing") return unexpectedFailure();
      const stored = await auth.fetch(request);
      await stored.body?.cancel();
      return unexpectedFailure();
    }
    return await auth.fetch(request);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    failNextCreate(mode) {
      nextCreateFailure = mode;
    },
    async close() {
      await server.shutdown();
      await owned?.close();
    },
  };
}

/** The local Supabase Auth on `databaseUrl` with its own recording server (a test's own database). */
export async function startAuthFor(
  databaseUrl: string,
  keys: { jwtSecret: string; secretKeys: string[] },
): Promise<AuthServer> {
  const auth = await startLocalAuth({ databaseUrl, ...keys, issuer: "tripwire-tests" });
  return startAuthServer(auth, auth);
}

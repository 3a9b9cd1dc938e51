/**
 * A test server that answers `POST /emails` as Resend documents it: 200 `{id}` for an accepted
 * e-mail, and its error shape `{statusCode, name, message}` (401, 422, 429, 500) when told to fail.
 */
export interface SentEmail {
  headers: Record<string, string>;
  body: { from: string; to: string[]; subject: string; text: string; html: string };
}

export interface ResendServer {
  url: string;
  apiKey: string;
  accepted: SentEmail[];
  /** Status the next `count` requests answer with (500 = Resend's `internal_server_error`). */
  failNext(count: number, status?: 429 | 500): void;
  close(): Promise<void>;
}

export function startResendServer(): ResendServer {
  const apiKey = "re_test_only_key";
  const accepted: SentEmail[] = [];
  let failures = 0;
  let failureStatus = 500;

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const url = new URL(request.url);
    if (request.method !== "POST" || url.pathname !== "/emails") {
      return Response.json({ statusCode: 404, name: "not_found", message: "Not found" }, { status: 404 });
    }
    if (request.headers.get("authorization") !== `Bearer ${apiKey}`) {
      return Response.json({ statusCode: 401, name: "missing_api_key", message: "Missing API key" }, {
        status: 401,
      });
    }
    const body = await request.json();
    if (!body.from || !Array.isArray(body.to) || !body.subject) {
      return Response.json(
        { statusCode: 422, name: "validation_error", message: "Missing `from`, `to` or `subject`" },
        { status: 422 },
      );
    }
    if (failures > 0) {
      failures--;
      const name = failureStatus === 429 ? "rate_limit_exceeded" : "internal_server_error";
      return Response.json({ statusCode: failureStatus, name, message: "Try again later" }, {
        status: failureStatus,
      });
    }
    accepted.push({ headers: Object.fromEntries(request.headers), body });
    return Response.json({ id: crypto.randomUUID() });
  });

  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    apiKey,
    accepted,
    failNext(count, status = 500) {
      failures = count;
      failureStatus = status;
    },
    close: () => server.shutdown(),
  };
}

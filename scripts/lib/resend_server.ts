/**
 * A server that answers `POST /emails` as Resend documents it, for `npm start` (the local inbox: `GET /` lists
 * every e-mail the stack sent, with its links, newest first; in memory only) and for the tests and the fault
 * suite: 200 `{id}`
 * for an accepted e-mail, and Resend's error shape `{statusCode, name, message}` (401, 409, 422, 429, 500).
 * It keeps Resend's idempotency contract (https://resend.com/docs/dashboard/emails/idempotency-keys): a
 * request repeating an `Idempotency-Key` of the last 24 hours with the same body gets the first answer and
 * sends nothing; with another body it is refused 409 `invalid_idempotent_request`, and while the first is
 * still being handled 409 `concurrent_idempotent_requests`.
 */
import { sha256 } from "../../supabase/functions/_shared/hash.ts";

export interface SentEmail {
  headers: Record<string, string>;
  body: { from: string; to: string[]; subject: string; text: string; html: string };
}

export interface ResendServer {
  url: string;
  apiKey: string;
  /** The e-mails really sent, once each. */
  accepted: SentEmail[];
  /** Requests answered from an earlier one with the same Idempotency-Key (nothing sent again). */
  replayed(): number;
  /** Status the next `count` requests answer with (500 = Resend's `internal_server_error`). */
  failNext(count: number, status?: 429 | 500): void;
  close(): Promise<void>;
}

const keyLifetimeMs = 24 * 60 * 60 * 1000;

/** npm start's local inbox port: config.toml's [local_smtp] port, where Supabase's local mail viewer would be. */
export const localInboxPort = 54324;

export function startResendServer(options: { port?: number } = {}): ResendServer {
  const apiKey = "re_test_only_key";
  const accepted: SentEmail[] = [];
  const byKey = new Map<string, { hash: string; at: number; answer?: { id: string } }>();
  let replays = 0;
  let failures = 0;
  let failureStatus = 500;
  const refuse = (statusCode: number, name: string, message: string) =>
    Response.json({ statusCode, name, message }, { status: statusCode });

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 0, onListen: () => {} },
    async (request) => {
      const url = new URL(request.url);
      if (request.method === "GET" && url.pathname === "/") {
        return new Response(inboxPage(accepted), { headers: { "content-type": "text/html; charset=utf-8" } });
      }
      if (request.method !== "POST" || url.pathname !== "/emails") {
        return refuse(
          404,
          "not_found",
          "Not found",
        );
      }
      if (request.headers.get("authorization") !== `Bearer ${apiKey}`) {
        return refuse(401, "missing_api_key", "Missing API key");
      }
      const text = await request.text();
      const body = JSON.parse(text);
      if (!body.from || !Array.isArray(body.to) || !body.subject) {
        return refuse(422, "validation_error", "Missing `from`, `to` or `subject`");
      }
      const key = request.headers.get("idempotency-key");
      const hash = sha256(text);
      const earlier = key ? byKey.get(key) : undefined;
      if (earlier && Date.now() - earlier.at < keyLifetimeMs) {
        if (earlier.hash !== hash) {
          return refuse(
            409,
            "invalid_idempotent_request",
            "Same idempotency key used with a different payload",
          );
        }
        if (!earlier.answer) {
          return refuse(409, "concurrent_idempotent_requests", "Same idempotency key used while in progress");
        }
        replays++;
        return Response.json(earlier.answer);
      }
      if (failures > 0) {
        failures--;
        const name = failureStatus === 429 ? "rate_limit_exceeded" : "internal_server_error";
        return refuse(failureStatus, name, "Try again later");
      }
      const entry: { hash: string; at: number; answer?: { id: string } } = { hash, at: Date.now() };
      if (key) byKey.set(key, entry);
      accepted.push({ headers: Object.fromEntries(request.headers), body });
      entry.answer = { id: crypto.randomUUID() };
      return Response.json(entry.answer);
    },
  );

  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    apiKey,
    accepted,
    replayed: () => replays,
    failNext(count, status = 500) {
      failures = count;
      failureStatus = status;
    },
    close: () => server.shutdown(),
  };
}

const escapeHtml = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

/** An e-mail's text with its links made clickable. */
const withLinks = (text: string) =>
  escapeHtml(text).replace(/https?:\/\/[^\s<]+/g, (link) => `<a href="${link}">${link}</a>`);

/** The local inbox: every e-mail sent, newest first, as a person reads it. */
function inboxPage(emails: SentEmail[]): string {
  const items = [...emails].reverse().map(({ body }) => `
    <article>
      <h2>${escapeHtml(body.subject)}</h2>
      <p class="meta">To ${escapeHtml(body.to.join(", "))} · from ${escapeHtml(body.from)}</p>
      <pre>${withLinks(body.text ?? "")}</pre>
    </article>`).join("");
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tripwire: local inbox</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 48rem; padding: 1rem; color: #1a1a1a; }
  article { border: 1px solid #ccc; border-radius: 8px; padding: 0 1rem; margin: 1rem 0; }
  .meta { color: #555; } pre { white-space: pre-wrap; font: inherit; }
</style></head>
<body>
<h1>Local inbox</h1>
<p>Every e-mail <code>npm start</code> sent, newest first. Nothing here leaves this machine; it is gone when the
stack stops. Reload to see new ones.</p>
${items || "<p>No e-mails yet.</p>"}
</body></html>`;
}

/**
 * The academy's CRM as a test server: it verifies every request with the `standardwebhooks` library and one of
 * the endpoint secrets it was given, as a receiver should, keeps what verified, and answers what the story
 * tells it to (`state.status`), after `state.delayMs` when the story wants a slow one.
 */
import { Webhook } from "standardwebhooks";
import type { EventType } from "../../supabase/functions/_domain/events.ts";

export interface ReceivedEvent {
  type: EventType;
  timestamp: string;
  data: Record<string, unknown> & { student: { id: string; email: string; status: string } };
  /** The `webhook-id` header. */
  id: string;
}

export function startCrm() {
  const received: ReceivedEvent[] = [];
  const rejected: string[] = [];
  const state = { secrets: [] as string[], status: 200, delayMs: 0 };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const body = await request.text();
    if (state.delayMs) await new Promise((resolve) => setTimeout(resolve, state.delayMs));
    const headers = Object.fromEntries(request.headers);
    const failures: string[] = [];
    for (const secret of state.secrets) {
      try {
        const message = new Webhook(secret).verify(body, headers) as ReceivedEvent;
        if (state.status >= 200 && state.status < 300) {
          received.push({ ...message, id: headers["webhook-id"] });
        }
        return new Response(state.status === 204 ? null : state.status < 300 ? "ok" : "CRM is down", {
          status: state.status,
        });
      } catch (error) {
        failures.push(String(error)); // another endpoint's secret, or a bad signature
      }
    }
    rejected.push(failures.join("; ") || "no secret given");
    return new Response("bad signature", { status: 400 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/hooks`,
    received,
    rejected,
    state,
    close: () => server.shutdown(),
  };
}

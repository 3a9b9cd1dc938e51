/**
 * Where the request came from (its headers and id), carried through the request by the frame (app.ts) so that
 * code deep in a capability — the audit trail — can say where an action came from without passing it along.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { clientAddress } from "./client_address.ts";
import { config } from "./config.ts";

interface RequestOrigin {
  headers: Headers;
  requestId: string | null;
}

const origins = new AsyncLocalStorage<RequestOrigin>();

/**
 * Runs `work` with the request's origin, for the audit rows it may write: its headers and its id.
 */
export function withRequestOrigin<T>(headers: Headers, requestId: string, work: () => T): T {
  return origins.run({ headers, requestId }, work);
}

/**
 * Where the request came from, as the audit keeps it: the client's address as the platform's trusted proxy
 * reports it (`clientAddress`, never an entry the client wrote), its user agent and the request id.
 */
export function requestOrigin() {
  const origin = origins.getStore();
  if (!origin) return { clientIp: null, userAgent: null, requestId: null };
  return {
    clientIp: clientAddress(origin.headers, config().trustedProxyHops),
    userAgent: origin.headers.get("user-agent")?.slice(0, 500) ?? null,
    requestId: origin.requestId,
  };
}

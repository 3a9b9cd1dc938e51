/**
 * The client's address as the platform's trusted proxy reports it. Every proxy appends the address it got the
 * connection from to `X-Forwarded-For`, so only the last `trustedHops` entries were written by proxies we
 * trust (Supabase's gateway: one, TRUSTED_PROXY_HOPS); anything to their left the client wrote itself and
 * could be anything. Locally there is no proxy (0): every client is this machine.
 */
import ipaddr from "ipaddr.js";

/** The address `trustedHops` entries from the right of X-Forwarded-For, or null (no proxy, none given). */
export function clientAddress(headers: Headers, trustedHops: number): string | null {
  if (trustedHops <= 0) return null;
  const hops = (headers.get("x-forwarded-for") ?? "").split(",").map((hop) => hop.trim()).filter(Boolean);
  if (!hops.length) return null;
  // Fewer entries than trusted proxies: the left-most is what the outermost of them saw.
  const address = hops[Math.max(0, hops.length - trustedHops)];
  return ipaddr.isValid(address) ? ipaddr.parse(address).toString() : null;
}

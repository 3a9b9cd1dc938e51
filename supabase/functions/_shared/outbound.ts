/**
 * Where the project may send a request to a URL someone gave it (the academy's webhook endpoints): https to a
 * host whose every address is public. Private, loopback, link-local, carrier-grade NAT, multicast and reserved
 * addresses (IPv4 and IPv6, mapped and translated forms included) are refused, so an endpoint cannot be turned
 * into a probe of the network the functions run in. The host is resolved when the URL is registered and again
 * before every delivery, so a name that later resolves inside (DNS rebinding) is refused then.
 *
 * The addresses come from the system resolver (`node:dns` `lookup`, getaddrinfo: /etc/hosts, then DNS), the
 * one `fetch` connects through. What remains: a name whose answer changes between this lookup and fetch's own,
 * a fraction of a second later; a resolver with a zero TTL could still win that race.
 */
import { lookup } from "node:dns/promises";
import ipaddr from "ipaddr.js";

/** A host's addresses, as text. */
export type Resolve = (host: string) => Promise<string[]>;

const systemResolve: Resolve = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((answer) => answer.address);

/** The one kind of address a request may go to. */
const publicRange = "unicast";

/** An address as ipaddr.js classifies it, an IPv4-mapped IPv6 one as the IPv4 it carries. */
function rangeOf(address: string): string {
  if (!ipaddr.isValid(address)) return "invalid";
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === "ipv6") {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().range();
  }
  return parsed.range();
}

/** True for a public unicast address (IPv4 or IPv6); false for anything inside or reserved. */
export function isPublicAddress(address: string): boolean {
  return rangeOf(address) === publicRange;
}

/** True for this machine's own addresses (127.0.0.0/8, ::1, ::ffff:127.0.0.1). */
export function isLoopbackAddress(address: string): boolean {
  return rangeOf(address) === "loopback";
}

/** Why a URL may not be called; the message reads after the field's name. */
export class OutboundRefused extends Error {}

export interface OutboundPolicy {
  /** This machine allowed (http or https): only where the project runs locally. */
  loopback: boolean;
  resolve?: Resolve;
}

/**
 * The checks that need no network: https (http only to this machine where allowed), no user or password of any
 * kind. Answers the URL normalised by the WHATWG parser (scheme and host lower-cased, IDNs in punycode, numeric
 * hosts such as 0x7f.1 written as 127.0.0.1, the default port dropped).
 */
export function normaliseOutboundUrl(text: string, policy: Pick<OutboundPolicy, "loopback">): URL {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new OutboundRefused("must be an absolute URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new OutboundRefused("must be https");
  if (url.username || url.password || /^[a-z]+:\/\/[^/?#]*@/i.test(text.trim())) {
    throw new OutboundRefused("must carry no user name or password");
  }
  if (url.protocol === "http:" && !(policy.loopback && isLoopbackName(url.hostname))) {
    throw new OutboundRefused(
      policy.loopback ? "must be https (http only to this machine)" : "must be https",
    );
  }
  url.hash = "";
  return url;
}

/** `localhost` or a loopback literal, as the URL's hostname writes it. */
function isLoopbackName(hostname: string): boolean {
  const host = bare(hostname);
  return host === "localhost" || host.endsWith(".localhost") || isLoopbackAddress(host);
}

/** The hostname without IPv6 brackets or a final dot. */
function bare(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
}

/**
 * Refuses a URL whose host is, or resolves to, any address that is not public (loopback allowed only by the
 * policy). Answers the addresses it checked.
 */
export async function assertPublicHost(url: URL, policy: OutboundPolicy): Promise<string[]> {
  const host = bare(url.hostname);
  let addresses: string[];
  if (ipaddr.isValid(host)) addresses = [host];
  else {
    try {
      addresses = await (policy.resolve ?? systemResolve)(host);
    } catch {
      throw new OutboundRefused(`must name a host that resolves (${host} does not)`);
    }
    if (!addresses.length) throw new OutboundRefused(`must name a host that resolves (${host} does not)`);
  }
  for (const address of addresses) {
    if (isPublicAddress(address) || (policy.loopback && isLoopbackAddress(address))) continue;
    throw new OutboundRefused(
      `must reach a public address (${host} is ${address === host ? "" : `${address}, `}${rangeOf(address)})`,
    );
  }
  return addresses;
}

/** Both checks: the URL normalised, its host public. */
export async function checkOutboundUrl(text: string, policy: OutboundPolicy): Promise<URL> {
  const url = normaliseOutboundUrl(text, policy);
  await assertPublicHost(url, policy);
  return url;
}

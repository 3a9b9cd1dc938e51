/**
 * The local stack's front door: what Supabase's gateway does for the deployed functions, so that no
 * client can take `npm start` down. Deno.serve alone never times out a connection that sends half a
 * request, and when such connections exhaust the process's file descriptors its accept loop dies
 * (`Too many open files`) and the server stops for good. Here a plain TCP accept loop, which survives
 * that error, owns every client connection and relays it to Deno.serve on a Unix socket:
 *
 * - a request's headers must arrive within `headerTimeoutMs` of the connection (10 s);
 * - a connection with no byte either way for `idleTimeoutMs` is closed (60 s);
 * - at most `maxConnections` are open (2,000); beyond that, and whenever the process runs out of file
 *   descriptors, connections are shed: first those that never finished their request head, then requests still
 *   coming in (the longest-running first), then the idlest between requests;
 * - a request head is read here first: one declaring a body larger than any route takes (64 KiB) is answered
 *   413 at once, and the inner server is connected to only for a complete head;
 * - `shutdown()` first goes on accepting for `lingerMs` (250 ms), so that a request sent before the signal is
 *   not refused from the listen backlog nor met by a keep-alive connection being closed; then stops
 *   accepting, lets in-flight requests finish and every answer be copied to its client (bounded), and only
 *   then closes what is left.
 */
import { maxBodyBytes } from "../../supabase/functions/_shared/app.ts";
import { log } from "../../supabase/functions/_shared/log.ts";

export interface GuardOptions {
  hostname: string;
  port: number;
  headerTimeoutMs?: number;
  idleTimeoutMs?: number;
  maxConnections?: number;
  /** How long `shutdown()` still accepts and relays before it stops accepting (ms). */
  lingerMs?: number;
}

interface Relay {
  client: Deno.Conn;
  upstream?: Deno.Conn;
  acceptedAt: number;
  lastActivity: number;
  headersSeen: boolean;
  /** When the client began the request the server has not started answering yet; null between requests. */
  requestStartedAt: number | null;
  closed: boolean;
}

export interface GuardedServer {
  port: number;
  /** Connections open right now. */
  connections(): number;
  /** Stops accepting, waits up to `graceMs` for in-flight requests, then closes everything. */
  shutdown(graceMs?: number): Promise<void>;
}

const headerEnd = new TextEncoder().encode("\r\n\r\n");
/** The largest request head read; a longer one closes the connection. */
const maxHeadBytes = 32 * 1024;
const tooLargeBody = JSON.stringify({
  error: { code: "validation_failed", message: `The request body is larger than ${maxBodyBytes} bytes` },
});
const tooLarge = new TextEncoder().encode(
  "HTTP/1.1 413 Content Too Large\r\ncontent-type: application/json\r\nconnection: close\r\n" +
    `content-length: ${new TextEncoder().encode(tooLargeBody).length}\r\n\r\n${tooLargeBody}`,
);

async function writeAll(to: Deno.Conn, bytes: Uint8Array) {
  for (let written = 0; written < bytes.length;) written += await to.write(bytes.subarray(written));
}

/** The Content-Length a request head declares, or null. */
function contentLength(head: Uint8Array): number | null {
  const text = new TextDecoder().decode(head.subarray(0, indexOf(head, headerEnd)));
  const match = text.match(/\r\ncontent-length:[ \t]*(\d+)/i);
  return match ? Number(match[1]) : null;
}

/** Serves `handler` on hostname:port behind the guard. */
export async function serveGuarded(
  options: GuardOptions,
  handler: (request: Request) => Response | Promise<Response>,
): Promise<GuardedServer> {
  const headerTimeoutMs = options.headerTimeoutMs ?? 10_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const maxConnections = options.maxConnections ?? 2_000;
  // The port first: when it is taken, nothing else has been started that would keep the process alive.
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const socketDir = await Deno.makeTempDir({ prefix: "tripwire-http-" });
  const socketPath = `${socketDir}/http.sock`;
  const inner = Deno.serve({ path: socketPath, onListen: () => {} }, handler);
  const relays = new Set<Relay>();
  /** Each relay until it has copied its last byte to its client. */
  const relaying = new Set<Promise<void>>();
  const lingerMs = options.lingerMs ?? 250;
  let accepting = true;

  function close(relay: Relay) {
    if (relay.closed) return;
    relay.closed = true;
    relays.delete(relay);
    for (const conn of [relay.client, relay.upstream]) {
      try {
        conn?.close();
      } catch { /* already closed */ }
    }
  }

  /**
   * Closes `count` connections, those that look least like a client about to be served: first the ones that
   * never finished their request head (slowloris), the least recently active first — a real client's head
   * arrives within milliseconds of its connection; then requests still coming in, the longest-running first (a
   * trickle of body bytes keeps an attacker's connection looking busy, never finished); and only then
   * connections between requests, the idlest first (a client may be about to reuse one).
   */
  function shed(count: number) {
    const rank = (relay: Relay): [number, number] => {
      if (!relay.headersSeen) return [0, relay.lastActivity];
      if (relay.requestStartedAt !== null) return [1, relay.requestStartedAt];
      return [2, relay.lastActivity];
    };
    const victims = [...relays].sort((a, b) => {
      const [left, right] = [rank(a), rank(b)];
      return left[0] - right[0] || left[1] - right[1];
    });
    for (const relay of victims.slice(0, count)) close(relay);
  }

  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const relay of relays) {
      if (!relay.headersSeen && now - relay.acceptedAt > headerTimeoutMs) close(relay);
      else if (now - relay.lastActivity > idleTimeoutMs) close(relay);
    }
  }, 1000);

  async function pipe(from: Deno.Conn, to: Deno.Conn, relay: Relay, fromServer: boolean) {
    const buffer = new Uint8Array(16 * 1024);
    for (;;) {
      const read = await from.read(buffer);
      if (read === null) return;
      relay.lastActivity = performance.now();
      if (fromServer) relay.requestStartedAt = null;
      else relay.requestStartedAt ??= relay.lastActivity;
      await writeAll(to, buffer.subarray(0, read));
    }
  }

  /**
   * The client's first request head, read here before anything goes to the inner server (with whatever came
   * after it in the same reads); null when the client goes away first. The sweeper closes a connection whose
   * head is not complete within `headerTimeoutMs`, which ends this read.
   */
  async function readHead(client: Deno.Conn, relay: Relay): Promise<Uint8Array | null> {
    const buffer = new Uint8Array(16 * 1024);
    let received = new Uint8Array(0);
    while (indexOf(received, headerEnd) < 0) {
      const read = await client.read(buffer);
      if (read === null) return null;
      relay.lastActivity = performance.now();
      relay.requestStartedAt ??= relay.lastActivity;
      const next = new Uint8Array(received.length + read);
      next.set(received);
      next.set(buffer.subarray(0, read), received.length);
      received = next;
      if (received.length > maxHeadBytes) return null;
    }
    relay.headersSeen = true;
    return received;
  }

  /**
   * A connection to the inner server. Under a storm of connections its accept queue fills and connect fails
   * with EAGAIN (WouldBlock): the client waits a little and tries again (about 1.3 s in all) instead of
   * being dropped.
   */
  async function connectUpstream(relay: Relay): Promise<Deno.Conn> {
    for (let attempt = 0;; attempt++) {
      try {
        return await Deno.connect({ transport: "unix", path: socketPath });
      } catch (error) {
        if (!(error instanceof Deno.errors.WouldBlock) || attempt >= 8 || relay.closed) throw error;
        await new Promise((resolve) => setTimeout(resolve, 5 * 2 ** attempt));
      }
    }
  }

  async function relay(client: Deno.Conn) {
    const now = performance.now();
    const relay: Relay = {
      client,
      acceptedAt: now,
      lastActivity: now,
      headersSeen: false,
      requestStartedAt: null,
      closed: false,
    };
    relays.add(relay);
    try {
      const head = await readHead(client, relay);
      if (!head || relay.closed) return;
      // A body larger than any route takes is refused here, before the inner server spends anything on it
      // (as Supabase's gateway does): a flood of such requests costs an accept and a read.
      const length = contentLength(head);
      if (length !== null && length > maxBodyBytes) {
        await writeAll(client, tooLarge);
        return;
      }
      relay.upstream = await connectUpstream(relay);
      if (relay.closed) return close(relay);
      const upstream = relay.upstream;
      await writeAll(upstream, head);
      // The client may half-close after its request: pass that on and still deliver the answer.
      void pipe(client, upstream, relay, false).then(() => upstream.closeWrite()).catch(() => close(relay));
      // The relay lives as long as the server's side: once that ends, everything it said has been copied to
      // the client (a shutdown waits for exactly this), and there is nobody left to relay to.
      await pipe(upstream, client, relay, true).catch(() => {});
    } catch {
      // a connection error, or the process out of descriptors: this connection is dropped, nothing else
    } finally {
      close(relay);
    }
  }

  const acceptLoop = (async () => {
    let lastWarning = 0;
    while (accepting) {
      let client: Deno.Conn;
      try {
        client = await listener.accept();
      } catch (error) {
        if (!accepting || error instanceof Deno.errors.BadResource) break;
        // Out of file descriptors (EMFILE) or a transient accept error: make room and keep serving.
        if (performance.now() - lastWarning > 5000) {
          lastWarning = performance.now();
          log("warn", "accept_failed", { error: String(error), connections: relays.size });
        }
        shed(Math.max(1, Math.ceil(relays.size / 10)));
        await new Promise((resolve) => setTimeout(resolve, 20));
        continue;
      }
      // An answer is relayed in the pieces the inner server writes it in; with Nagle's algorithm the piece
      // after the first of a larger answer (over ~16 KB) waited for the client's delayed ACK: 40 ms more for
      // GET /staff and every long list. A relay sends each piece at once, as Supabase's gateway does.
      try {
        (client as Deno.TcpConn).setNoDelay(true);
      } catch { /* closed already: the relay finds out */ }
      // Full: make room for a twentieth more at once, so that under a flood the ranking (a sort of every
      // connection) runs once per hundred accepts, not on each — the accept loop keeps up with real clients.
      if (relays.size >= maxConnections) {
        shed(Math.max(relays.size - maxConnections + 1, Math.ceil(maxConnections / 20)));
      }
      const relayed: Promise<void> = relay(client).finally(() => relaying.delete(relayed));
      relaying.add(relayed);
    }
  })();

  return {
    port: (listener.addr as Deno.NetAddr).port,
    connections: () => relays.size,
    async shutdown(graceMs = 10_000) {
      // What was sent before the signal is still taken in: the listen backlog, and requests still on their
      // way through a relay to the inner server, which would otherwise find their connection idle and close it.
      await new Promise((resolve) => setTimeout(resolve, lingerMs));
      accepting = false;
      listener.close();
      await acceptLoop;
      const deadline = new Promise((resolve) => setTimeout(resolve, graceMs));
      // In-flight requests finish; idle keep-alive connections are closed by the inner shutdown, which ends
      // each upstream connection once its answer is written.
      await Promise.race([inner.shutdown(), deadline]);
      // Every answer is copied to its client before the relay goes: each relay ends when its upstream has.
      await Promise.race([Promise.all(relaying), deadline]);
      clearInterval(sweeper);
      for (const relay of [...relays]) close(relay);
      await Deno.remove(socketDir, { recursive: true }).catch(() => {});
    },
  };
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

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
 *   descriptors, the connections that never finished their headers go first, then the idlest;
 * - `shutdown()` first goes on accepting for `lingerMs` (250 ms), so that a request sent before the signal is
 *   not refused from the listen backlog nor met by a keep-alive connection being closed; then stops
 *   accepting, lets in-flight requests finish and every answer be copied to its client (bounded), and only
 *   then closes what is left.
 */
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

/** Serves `handler` on hostname:port behind the guard. */
export async function serveGuarded(
  options: GuardOptions,
  handler: (request: Request) => Response | Promise<Response>,
): Promise<GuardedServer> {
  const headerTimeoutMs = options.headerTimeoutMs ?? 10_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const maxConnections = options.maxConnections ?? 2_000;
  const socketDir = await Deno.makeTempDir({ prefix: "tripwire-http-" });
  const socketPath = `${socketDir}/http.sock`;
  const inner = Deno.serve({ path: socketPath, onListen: () => {} }, handler);
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
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

  /** Closes `count` connections: those that never finished their headers first, then the idlest. */
  function shed(count: number) {
    const victims = [...relays].sort((a, b) =>
      Number(a.headersSeen) - Number(b.headersSeen) || a.lastActivity - b.lastActivity
    );
    for (const relay of victims.slice(0, count)) close(relay);
  }

  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const relay of relays) {
      if (!relay.headersSeen && now - relay.acceptedAt > headerTimeoutMs) close(relay);
      else if (now - relay.lastActivity > idleTimeoutMs) close(relay);
    }
  }, 1000);

  async function pipe(from: Deno.Conn, to: Deno.Conn, relay: Relay, watchHeaders: boolean) {
    const buffer = new Uint8Array(16 * 1024);
    let tail = new Uint8Array(0);
    for (;;) {
      const read = await from.read(buffer);
      if (read === null) return;
      relay.lastActivity = performance.now();
      const chunk = buffer.subarray(0, read);
      if (watchHeaders && !relay.headersSeen) {
        const window = new Uint8Array(tail.length + chunk.length);
        window.set(tail);
        window.set(chunk, tail.length);
        if (indexOf(window, headerEnd) >= 0) relay.headersSeen = true;
        tail = window.slice(-3);
      }
      for (let written = 0; written < chunk.length;) written += await to.write(chunk.subarray(written));
    }
  }

  async function relay(client: Deno.Conn) {
    const now = performance.now();
    const relay: Relay = { client, acceptedAt: now, lastActivity: now, headersSeen: false, closed: false };
    relays.add(relay);
    try {
      relay.upstream = await Deno.connect({ transport: "unix", path: socketPath });
      if (relay.closed) return close(relay);
      const upstream = relay.upstream;
      // The client may half-close after its request: pass that on and still deliver the answer.
      void pipe(client, upstream, relay, true).then(() => upstream.closeWrite()).catch(() => close(relay));
      // The relay lives as long as the server's side: once that ends, everything it said has been copied to
      // the client (a shutdown waits for exactly this), and there is nobody left to relay to.
      await pipe(upstream, client, relay, false).catch(() => {});
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
      if (relays.size >= maxConnections) shed(relays.size - maxConnections + 1);
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

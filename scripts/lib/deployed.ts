/**
 * The functions as Supabase deploys them: each entry bundled exactly as config.toml configures it (its import
 * map, its entrypoint, npm packages from the registry and no node_modules — so postgres.js as npm ships it,
 * without this repository's patch), each bundle in its own Deno process with only the environment Supabase
 * gives a function and V8's heap capped at the platform's 256 MB (`isolateHeapMiB`), behind a gateway that
 * forwards `/functions/v1/<name>/…` to it as `/<name>/…`.
 */
import { parse } from "smol-toml";
import { fileURLToPath } from "node:url";
import { freePort, keepOutput, untilListening } from "./processes.ts";
import { type LocalAuth, startLocalAuth } from "./local_auth/server.ts";

const supabaseDir = fileURLToPath(new URL("../../supabase/", import.meta.url));

/**
 * Supabase's memory limit for a function (256 MB), applied as V8's heap limit: the collector works within it as
 * it does in an isolate, instead of letting the heap grow as a process on a 24 GB machine would (a drawing
 * function's resident memory stayed at 157 MiB with the cap and rose to 282 MiB without it), and a function
 * that really needs more fails here as it would there.
 */
export const isolateHeapMiB = 256;

interface FunctionSettings {
  import_map: string;
  entrypoint: string;
}

/** The functions config.toml deploys, with their settings. */
export function deployedFunctions(): Record<string, FunctionSettings> {
  const config = parse(Deno.readTextFileSync(`${supabaseDir}config.toml`)) as unknown as {
    functions: Record<string, FunctionSettings>;
  };
  return config.functions;
}

/** Bundles one function as configured into `outDir`; returns the bundle's path. */
export async function bundleFunction(
  name: string,
  settings: FunctionSettings,
  outDir: string,
): Promise<string> {
  const bundle = `${outDir}/${name}.js`;
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      // No deno.json: the import map config.toml names is all the bundler gets, as on Supabase.
      "--no-config",
      "--import-map",
      fileURLToPath(new URL(settings.import_map, `file://${supabaseDir}`)),
      "--output",
      bundle,
      fileURLToPath(new URL(settings.entrypoint, `file://${supabaseDir}`)),
    ],
    // Outside the repository, so that nothing finds its node_modules.
    cwd: outDir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`bundling ${name} failed: ${new TextDecoder().decode(output.stderr).slice(-3000)}`);
  }
  return bundle;
}

export interface DeployedStack {
  /** The gateway: `${url}/functions/v1/<name>`, as the project's URL. */
  url: string;
  /** Stops one function's process (as the platform recycles an isolate) and starts it again. */
  restart(name: string): Promise<void>;
  /** Function processes that ended on their own (started again, as the platform starts a new isolate). */
  crashes(): { name: string; output: string }[];
  /** Each instance of a function, straight (`http://127.0.0.1:<port>/<name>`), for a load balancer's view. */
  instanceUrls(name: string): string[];
  /** The process ids of a function's instances. */
  instancePids(name: string): number[];
  /** The size of a function's bundle, in bytes (Supabase allows 5 MB bundled server-side). */
  bundleBytes(name: string): number;
  stop(): Promise<void>;
}

interface RunningFunction {
  port: number;
  child: Deno.ChildProcess;
  output: string[];
}

/**
 * Bundles every function (or `names`) and runs each bundle with `env` (what Supabase sets, and the secrets)
 * behind a gateway. `auth` and `storage` answer `/auth/v1/…` and `/storage/v1/…` (Supabase Auth's and
 * Storage's stand-ins), when given; with `authDatabaseUrl` instead of `auth`, the local Supabase Auth answers,
 * keeping its users in that database (the direct one: Supabase Auth does not go through the pooler) and
 * taking the keys `env` gives the functions.
 */
export async function startDeployedStack(options: {
  env: Record<string, string>;
  names?: string[];
  auth?: (request: Request) => Response | Promise<Response>;
  authDatabaseUrl?: string;
  /** Answers `/storage/v1/…` (Supabase Storage's stand-in), when given. */
  storage?: (request: Request) => Response | Promise<Response>;
  /** Instances of each function behind the gateway, taken in turn (the platform's many isolates). */
  instances?: number;
}): Promise<DeployedStack> {
  const folder = await Deno.makeTempDir({ prefix: "tripwire-bundles-" });
  const all = deployedFunctions();
  const names = options.names ?? Object.keys(all);
  const bundles = Object.fromEntries(
    await Promise.all(
      names.map(async (name) => [name, await bundleFunction(name, all[name], folder)] as const),
    ),
  );
  const instances = options.instances ?? 1;
  const localAuth: LocalAuth | undefined = options.authDatabaseUrl && !options.auth
    ? await startLocalAuth({
      databaseUrl: options.authDatabaseUrl,
      jwtSecret: options.env.JWT_SECRET,
      secretKeys: Object.values(JSON.parse(options.env.SUPABASE_SECRET_KEYS ?? "{}")),
      issuer: "tripwire-deployed-stack",
    })
    : undefined;
  const auth = options.auth ?? localAuth?.fetch;
  const running: Record<string, RunningFunction[]> = {};
  let turn = 0;
  // The gateway listens first, on a port of its own: a port picked now and bound later could be handed to one
  // of the processes started in between (it was, once: AddrInUse).
  const gateway = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const target = new URL(request.url);
      if (auth && target.pathname.startsWith("/auth/v1/")) return await auth(request);
      if (options.storage && target.pathname.startsWith("/storage/v1/")) {
        return await options.storage(request);
      }
      const match = target.pathname.match(/^\/functions\/v1\/([a-z0-9-]+)(\/.*)?$/);
      const pool = match ? running[match[1]] : undefined;
      if (!match || !pool) {
        return Response.json({ code: "NOT_FOUND", message: "No such function" }, {
          status: 404,
        });
      }
      const instance = pool[turn++ % pool.length];
      target.host = `127.0.0.1:${instance.port}`;
      target.pathname = `/${match[1]}${match[2] ?? ""}`;
      try {
        return await fetch(target, {
          method: request.method,
          headers: request.headers,
          body: request.body,
          redirect: "manual",
        });
      } catch {
        // The gateway's own answer when the function cannot be reached.
        return Response.json({ code: "BOOT_ERROR", message: "Function failed to start" }, { status: 503 });
      }
    },
  );

  const url = `http://127.0.0.1:${gateway.addr.port}`;

  async function launch(name: string): Promise<RunningFunction> {
    const port = freePort();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--no-config",
        `--v8-flags=--max-heap-size=${isolateHeapMiB}`,
        bundles[name],
      ],
      env: { ...options.env, SUPABASE_URL: url, DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}` },
      clearEnv: true,
      cwd: folder,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = keepOutput([child.stdout, child.stderr]);
    await untilListening(
      port,
      child,
      20_000,
      () => new Error(`${name} did not start: ${output.join("").slice(-3000)}`),
    );
    return { port, child, output };
  }

  const crashes: { name: string; output: string }[] = [];
  let stopping = false;
  /** A process that ends on its own is recorded and replaced, as the platform replaces an isolate. */
  const watch = (name: string, instance: RunningFunction) => {
    instance.child.status.then(async () => {
      const pool = running[name];
      const index = pool.indexOf(instance);
      if (stopping || index < 0) return;
      crashes.push({ name, output: instance.output.join("").slice(-2000) });
      pool[index] = await launch(name);
      watch(name, pool[index]);
    });
  };
  for (const name of names) {
    running[name] = await Promise.all(Array.from({ length: instances }, () => launch(name)));
    for (const instance of running[name]) watch(name, instance);
  }

  async function halt(instance: RunningFunction) {
    try {
      instance.child.kill("SIGTERM");
    } catch {
      // already gone
    }
    await instance.child.status;
  }

  return {
    url,
    async restart(name) {
      const pool = running[name];
      for (let i = 0; i < pool.length; i++) {
        const old = pool[i];
        pool[i] = await launch(name);
        watch(name, pool[i]);
        await halt(old);
      }
    },
    crashes: () => crashes,
    instanceUrls: (name) => running[name].map((instance) => `http://127.0.0.1:${instance.port}/${name}`),
    instancePids: (name) => running[name].map((instance) => instance.child.pid),
    bundleBytes: (name) => Deno.statSync(bundles[name]).size,
    async stop() {
      stopping = true;
      await gateway.shutdown();
      await Promise.all(Object.values(running).flat().map(halt));
      await localAuth?.close();
      await Deno.remove(folder, { recursive: true }).catch(() => {});
    },
  };
}

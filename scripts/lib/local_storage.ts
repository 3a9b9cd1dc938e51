/**
 * Local Storage: the part of Supabase Storage the functions use, answered by `npm start` at
 * http://127.0.0.1:54321/storage/v1, with Storage's token and error shapes, read from supabase/storage's source
 * (routes/object/*.ts, storage/object.ts):
 * - `POST /object/sign/{bucket}/{path}` (a secret key signs a URL for a while) and
 *   `GET|HEAD /object/sign/{bucket}/{path}?token=` (the object, with byte ranges): the lesson videos, the
 *   certificate's fonts. The token is an HS256 JWT `{url: "bucket/path", scope: "download", iat, exp}`.
 * - With a secret key: `GET /object/{bucket}/{path}` (download), `POST /object/{bucket}/{path}` (upload; an
 *   existing object is replaced only with `x-upsert: true`), `POST /object/list/{bucket}` (`{prefix, limit,
 *   offset}`: the names in that folder) and `DELETE /object/{bucket}` (`{prefixes}`: the names to remove) —
 *   the certificates' PDFs.
 * A refusal is HTTP 400 with `{statusCode, code, error, message}`, `statusCode` a string that may say "403",
 * "404" or "409".
 *
 * The buckets are supabase/config.toml's `[storage.buckets.*]`, their objects the files of `objects_path`
 * (what `supabase seed buckets` uploads when deployed), or of .tripwire/storage/<bucket>/ for a bucket the
 * functions write to (no objects_path). Local only: deployed, Supabase Storage does this.
 */
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { fileURLToPath } from "node:url";
import { parse } from "smol-toml";
import { objectPath } from "./course.ts";

export interface Bucket {
  name: string;
  /** Where its objects are: `objects_path`, relative to supabase/, else .tripwire/storage/<name>/. */
  directory: string;
  /** The content types an upload may have (`allowed_mime_types`); any when absent. */
  allowedTypes?: string[];
}

const supabaseDir = new URL("../../supabase/", import.meta.url);

/** Where buckets without objects_path keep what the functions write, unless told otherwise. */
const writableRoot = fileURLToPath(new URL("../.tripwire/storage/", supabaseDir));

/**
 * The buckets supabase/config.toml declares; those without objects_path keep their objects in `written`'s
 * folder of their name.
 */
export function configuredBuckets(written = writableRoot): Bucket[] {
  const config = parse(Deno.readTextFileSync(new URL("config.toml", supabaseDir))) as {
    storage?: { buckets?: Record<string, { objects_path?: string; allowed_mime_types?: string[] }> };
  };
  return Object.entries(config.storage?.buckets ?? {}).map(([name, bucket]) => ({
    name,
    directory: bucket.objects_path
      ? fileURLToPath(new URL(`${bucket.objects_path}/`, supabaseDir))
      : `${written.replace(/\/?$/, "/")}${name}/`,
    allowedTypes: bucket.allowed_mime_types,
  }));
}

const types: Record<string, string> = {
  webm: "video/webm",
  mp4: "video/mp4",
  pdf: "application/pdf",
  ttf: "font/ttf",
  wasm: "application/wasm",
};
const typeOf = (path: string) => types[path.split(".").pop() ?? ""] ?? "application/octet-stream";

/** Storage's error body: HTTP 400 unless Storage says otherwise, the real status in `statusCode`. */
function storageError(
  statusCode: number,
  code: string,
  message: string,
  error = code,
  status = 400,
): Response {
  return Response.json({ statusCode: String(statusCode), code, error, message }, {
    status,
    headers: { "access-control-allow-origin": "*" },
  });
}

const noSuchKey = () => storageError(404, "NoSuchKey", "Object not found", "not_found");
const noSuchBucket = () => storageError(404, "NoSuchBucket", "Bucket not found", "Bucket not found");

export interface LocalStorage {
  /** Answers a request whose path starts with /storage/v1. */
  fetch(request: Request): Promise<Response>;
}

export function startLocalStorage(options: {
  /** The stack's JWT secret: Storage signs and verifies URL tokens with it. */
  jwtSecret: string;
  /** The stack's secret keys, which the API gateway turns into the service role. */
  secretKeys: string[];
  buckets?: Bucket[];
  /** Where the buckets the functions write to keep their objects (default .tripwire/storage/). */
  writtenObjects?: string;
}): LocalStorage {
  const key = new TextEncoder().encode(options.jwtSecret);
  const buckets = new Map(
    (options.buckets ?? configuredBuckets(options.writtenObjects)).map((bucket) => [bucket.name, bucket]),
  );

  /** The file of an object, or null when there is none. */
  async function objectFile(bucket: Bucket, path: string): Promise<{ file: string; size: number } | null> {
    // No segment starts with a dot, so no `..` leaves the bucket's folder.
    if (!objectPath.test(path)) return null;
    const file = `${bucket.directory}${path}`;
    try {
      const info = await Deno.stat(file);
      return info.isFile ? { file, size: info.size } : null;
    } catch {
      return null;
    }
  }

  /** The caller's role as the gateway and Storage see it: a secret key is the service role. */
  async function callerRole(request: Request): Promise<string | Response> {
    const bearer = (request.headers.get("authorization") ?? "").replace(/^Bearer\s+/i, "");
    const apikey = request.headers.get("apikey") ?? "";
    if (options.secretKeys.includes(bearer) || (!bearer && options.secretKeys.includes(apikey))) {
      return "service_role";
    }
    try {
      const { payload } = await jwtVerify(bearer, key, { algorithms: ["HS256"] });
      return String(payload.role ?? "anon");
    } catch (error) {
      return storageError(403, "AccessDenied", (error as Error).message, "Unauthorized");
    }
  }

  async function sign(request: Request, bucket: Bucket, path: string): Promise<Response> {
    const role = await callerRole(request);
    if (role instanceof Response) return role;
    const body = await request.json().catch(() => undefined) as { expiresIn?: unknown } | undefined;
    const expiresIn = body?.expiresIn;
    if (typeof expiresIn !== "number" || !Number.isInteger(expiresIn) || expiresIn < 1) {
      return storageError(400, "InvalidRequest", "body/expiresIn must be an integer >= 1", "Bad Request");
    }
    // Only the service role passes: with no policy on storage.objects, row-level security hides every
    // object of a private bucket from anyone else, and Storage answers as for a missing one.
    if (role !== "service_role" || !(await objectFile(bucket, path))) return noSuchKey();
    const url = `${bucket.name}/${path}`;
    const token = await new SignJWT({ url, scope: "download" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuedAt()
      .setExpirationTime(`${expiresIn}s`)
      .sign(key);
    return Response.json({ signedURL: `/object/sign/${url}?token=${token}` }, {
      headers: { "access-control-allow-origin": "*" },
    });
  }

  async function signedObject(request: Request, bucket: Bucket, path: string): Promise<Response> {
    const token = new URL(request.url).searchParams.get("token");
    if (!token) {
      return storageError(
        400,
        "InvalidRequest",
        "querystring must have required property 'token'",
        "Bad Request",
      );
    }
    let payload: { url?: unknown; scope?: unknown; exp?: number };
    try {
      payload = (await jwtVerify(token, key, { algorithms: ["HS256"] })).payload;
    } catch (error) {
      // jose's own message, as Storage's: `"exp" claim timestamp check failed`, `signature verification failed`…
      const message = error instanceof joseErrors.JOSEError ? error.message : "Invalid JWT";
      return storageError(400, "InvalidJWT", message);
    }
    if (payload.scope !== undefined && payload.scope !== "download") {
      return storageError(400, "InvalidSignature", "Token is not scoped for download");
    }
    if (payload.url !== `${bucket.name}/${path}`) {
      return storageError(400, "InvalidSignature", "Invalid signature");
    }
    const object = await objectFile(bucket, path);
    if (!object) return noSuchKey();
    const headers = new Headers({
      "content-type": typeOf(path),
      "accept-ranges": "bytes",
      "access-control-allow-origin": "*",
      "cache-control": "max-age=3600",
      expires: new Date((payload.exp ?? 0) * 1000).toUTCString(),
    });
    return await serveRange(request, object.file, object.size, headers);
  }

  async function withBucket(name: string, work: (bucket: Bucket) => Promise<Response>): Promise<Response> {
    const bucket = buckets.get(decodeURIComponent(name));
    return bucket ? await work(bucket) : noSuchBucket();
  }

  /** The bucket (404 `NoSuchBucket` when unknown), then the object's path (404 `NoSuchKey` when undecodable). */
  async function withObject(
    [, name, encodedPath]: RegExpMatchArray,
    work: (bucket: Bucket, path: string) => Promise<Response>,
  ): Promise<Response> {
    return await withBucket(name, async (bucket) => {
      let path: string;
      try {
        path = decodeURIComponent(encodedPath);
      } catch {
        return noSuchKey();
      }
      return await work(bucket, path);
    });
  }

  /** Only the service role reaches a private bucket's objects: no policy on storage.objects lets anyone else. */
  async function asServiceRole(request: Request, work: () => Promise<Response>): Promise<Response> {
    const role = await callerRole(request);
    if (role instanceof Response) return role;
    if (role !== "service_role") return noSuchKey();
    return await work();
  }

  function download(request: Request, bucket: Bucket, path: string): Promise<Response> {
    return asServiceRole(request, async () => {
      const object = await objectFile(bucket, path);
      if (!object) return noSuchKey();
      return new Response(await Deno.readFile(object.file), {
        headers: { "content-type": typeOf(path), "content-length": String(object.size) },
      });
    });
  }

  async function upload(request: Request, bucket: Bucket, path: string): Promise<Response> {
    const role = await callerRole(request);
    if (role instanceof Response) return role;
    if (role !== "service_role") {
      return storageError(403, "Unauthorized", "new row violates row-level security policy", "Unauthorized");
    }
    if (!objectPath.test(path)) return storageError(400, "InvalidKey", `Invalid key: ${path}`);
    const type = (request.headers.get("content-type") ?? "").split(";")[0].trim();
    if (bucket.allowedTypes && !bucket.allowedTypes.includes(type)) {
      return storageError(415, "InvalidMimeType", `mime type ${type} is not supported`, "invalid_mime_type");
    }
    const file = `${bucket.directory}${path}`;
    if (request.headers.get("x-upsert") !== "true" && await objectFile(bucket, path)) {
      return storageError(409, "Duplicate", "The resource already exists", "Duplicate");
    }
    await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
    // Written aside and renamed: a reader meanwhile sees the old object or the whole new one.
    const partial = `${file}.${crypto.randomUUID()}.partial`;
    await Deno.writeFile(partial, new Uint8Array(await request.arrayBuffer()));
    await Deno.rename(partial, file);
    return Response.json({ Id: crypto.randomUUID(), Key: `${bucket.name}/${path}` });
  }

  /** The objects (and folders) directly in the folder `prefix`, by name, as Storage's list answers. */
  async function list(request: Request, bucket: Bucket): Promise<Response> {
    const role = await callerRole(request);
    if (role instanceof Response) return role;
    const body = await request.json().catch(() => ({})) as {
      prefix?: string;
      limit?: number;
      offset?: number;
    };
    if (role !== "service_role" || (body.prefix && !objectPath.test(body.prefix))) return Response.json([]);
    const folder = `${bucket.directory}${body.prefix ? `${body.prefix.replace(/\/$/, "")}/` : ""}`;
    const entries: { name: string; id: string | null; metadata: Record<string, unknown> | null }[] = [];
    try {
      for await (const entry of Deno.readDir(folder)) {
        if (entry.name.endsWith(".partial")) continue;
        if (entry.isDirectory) entries.push({ name: entry.name, id: null, metadata: null });
        else {
          const info = await Deno.stat(`${folder}${entry.name}`);
          entries.push({
            name: entry.name,
            id: crypto.randomUUID(),
            metadata: {
              size: info.size,
              mimetype: typeOf(entry.name),
              lastModified: info.mtime?.toISOString(),
            },
          });
        }
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    entries.sort((a, b) => a.name.localeCompare(b.name));
    const offset = body.offset ?? 0;
    return Response.json(entries.slice(offset, offset + (body.limit ?? 100)));
  }

  /** Removes the objects named (exact names, as Storage takes `prefixes`); answers the ones it removed. */
  async function remove(request: Request, bucket: Bucket): Promise<Response> {
    const role = await callerRole(request);
    if (role instanceof Response) return role;
    const body = await request.json().catch(() => ({})) as { prefixes?: unknown };
    const names = body.prefixes;
    if (!Array.isArray(names) || names.length === 0 || !names.every((name) => typeof name === "string")) {
      return storageError(
        400,
        "InvalidRequest",
        "body/prefixes must NOT have fewer than 1 items",
        "Bad Request",
      );
    }
    if (role !== "service_role") return Response.json([]);
    const removed = [];
    for (const name of names as string[]) {
      const object = await objectFile(bucket, name);
      if (!object) continue;
      await Deno.remove(object.file);
      removed.push({ name, bucket_id: bucket.name });
    }
    return Response.json(removed);
  }

  return {
    async fetch(request) {
      const url = new URL(request.url);
      if (request.method === "OPTIONS") {
        return new Response(null, {
          status: 204,
          headers: {
            "access-control-allow-origin": "*",
            "access-control-allow-methods": "GET, HEAD, POST, DELETE, OPTIONS",
            "access-control-allow-headers": "authorization, apikey, content-type, range, x-client-info",
          },
        });
      }
      // Fastify's answer for a route Storage does not have (here: every route but the ones above).
      const noRoute = () =>
        storageError(404, "NotFound", `Route ${request.method}:${url.pathname} not found`, "Not Found", 404);
      const listed = url.pathname.match(/^\/storage\/v1\/object\/list\/([^/]+)$/);
      if (listed && request.method === "POST") return await withBucket(listed[1], (b) => list(request, b));
      const whole = url.pathname.match(/^\/storage\/v1\/object\/([^/]+)$/);
      if (whole && request.method === "DELETE") return await withBucket(whole[1], (b) => remove(request, b));
      const direct = url.pathname.match(/^\/storage\/v1\/object\/(?:authenticated\/)?([^/]+)\/(.+)$/);
      // Public objects (`/object/public/…`) are not served: every bucket is private.
      if (direct && !["sign", "public", "list"].includes(direct[1])) {
        if (request.method === "POST") return await withObject(direct, (b, path) => upload(request, b, path));
        if (request.method === "GET") {
          return await withObject(direct, (b, path) => download(request, b, path));
        }
        return noRoute();
      }
      const match = url.pathname.match(/^\/storage\/v1\/object\/sign\/([^/]+)\/(.+)$/);
      if (!match) return noRoute();
      return await withObject(match, async (bucket, path) => {
        if (request.method === "POST") return await sign(request, bucket, path);
        if (request.method === "GET" || request.method === "HEAD") {
          return await signedObject(request, bucket, path);
        }
        return noRoute();
      });
    },
  };
}

/** A file answered whole (200) or in the byte range asked (206; 416 when the range is beyond it). */
async function serveRange(request: Request, path: string, size: number, headers: Headers): Promise<Response> {
  const range = request.headers.get("range")?.match(/^bytes=(\d*)-(\d*)$/);
  const partial = Boolean(range && (range[1] || range[2]));
  let start = 0;
  let end = size - 1;
  if (range && partial) {
    start = range[1] ? Number(range[1]) : Math.max(0, size - Number(range[2]));
    end = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    if (start > end || start >= size) {
      headers.set("content-range", `bytes */${size}`);
      return new Response(null, { status: 416, headers });
    }
    headers.set("content-range", `bytes ${start}-${end}/${size}`);
  }
  headers.set("content-length", String(end - start + 1));
  const status = partial ? 206 : 200;
  if (request.method === "HEAD") return new Response(null, { status, headers });
  const file = await Deno.open(path);
  await file.seek(start, Deno.SeekMode.Start);
  return new Response(file.readable.pipeThrough(limitTo(end - start + 1)), { status, headers });
}

/** Passes the first `count` bytes through, then ends the stream (closing the file). */
function limitTo(count: number): TransformStream<Uint8Array, Uint8Array> {
  let left = count;
  return new TransformStream({
    transform(chunk, controller) {
      if (left <= 0) return;
      const part = chunk.byteLength > left ? chunk.subarray(0, left) : chunk;
      left -= part.byteLength;
      controller.enqueue(part);
      if (left <= 0) controller.terminate();
    },
  });
}

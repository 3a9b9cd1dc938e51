/**
 * The local course's sample videos (media/, made by scripts/make_sample_videos.sh), served by `npm start`
 * at http://127.0.0.1:54321/media/<file> with byte ranges, which a browser's <video> needs to seek.
 * Deployed, the academy's video host serves the lessons' `video_url`s.
 */
const mediaDir = new URL("../../media/", import.meta.url);
const types: Record<string, string> = { webm: "video/webm", mp4: "video/mp4" };

export async function serveMedia(request: Request): Promise<Response> {
  const name = new URL(request.url).pathname.slice("/media/".length);
  const type = types[name.split(".").pop() ?? ""];
  if (!/^[a-z0-9-]+\.[a-z0-9]+$/.test(name) || !type) return new Response("Not found", { status: 404 });
  let file: Deno.FsFile;
  try {
    file = await Deno.open(new URL(name, mediaDir));
  } catch {
    return new Response("Not found", { status: 404 });
  }
  const size = (await file.stat()).size;
  const headers = new Headers({
    "content-type": type,
    "accept-ranges": "bytes",
    "access-control-allow-origin": "*",
    "cache-control": "public, max-age=3600",
  });
  const range = request.headers.get("range")?.match(/^bytes=(\d*)-(\d*)$/);
  const partial = Boolean(range && (range[1] || range[2]));
  let start = 0;
  let end = size - 1;
  if (range && partial) {
    start = range[1] ? Number(range[1]) : Math.max(0, size - Number(range[2]));
    end = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    if (start > end || start >= size) {
      file.close();
      headers.set("content-range", `bytes */${size}`);
      return new Response(null, { status: 416, headers });
    }
    headers.set("content-range", `bytes ${start}-${end}/${size}`);
  }
  headers.set("content-length", String(end - start + 1));
  if (request.method === "HEAD") {
    file.close();
    return new Response(null, { status: partial ? 206 : 200, headers });
  }
  await file.seek(start, Deno.SeekMode.Start);
  const body = file.readable.pipeThrough(limitTo(end - start + 1));
  return new Response(body, { status: partial ? 206 : 200, headers });
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

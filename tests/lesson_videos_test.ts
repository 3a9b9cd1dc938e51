/**
 * Paid videos stay paid: the lesson videos are objects in a private Storage bucket, and the player gets a
 * URL Storage signed (video-tracking's GET /video) only while the student may watch that lesson. Everything
 * over HTTP, through the real supabase-js Storage client and the local Storage `npm start` serves.
 */
import assert from "node:assert/strict";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { decodeJwt, SignJWT } from "jose";
import { aida } from "./support/fixtures.ts";
import { expectError, expectJson } from "./support/responses.ts";
import { appDatabase, baseUrl, callAs, callFunction, serviceKey, story, tokenFor } from "./support/server.ts";
import { newStudentBody, postStudent } from "./support/students.ts";

/** A new student sold through the API (her first module unlocked). */
async function newStudent(name: string): Promise<string> {
  return (await expectJson(await postStudent(aida.id, newStudentBody(name)), 201)).id;
}

const videoOf = (studentId: string, lessonId: number | string) =>
  callAs(studentId, `video-tracking/video?lesson_id=${lessonId}`);

/** Storage as a server with the project's secret key uses it (what the functions do). */
function storageAs(key: string, accessToken?: string): SupabaseClient["storage"] {
  return createClient(baseUrl, key, {
    auth: { persistSession: false, autoRefreshToken: false },
    global: accessToken ? { headers: { authorization: `Bearer ${accessToken}` } } : {},
  }).storage;
}

async function storageRefusal(url: string, init: RequestInit = {}) {
  const response = await fetch(url, init);
  return { status: response.status, body: await response.json() };
}

story(
  "a student gets a signed URL of an unlocked lesson's video; Storage serves it with byte ranges",
  async () => {
    const student = await newStudent("Video Student");
    const response = await videoOf(student, 67);
    assert.equal(response.headers.get("cache-control"), "no-store");
    const video = await expectJson(response);
    assert.equal(video.lesson_id, 67);
    assert.equal(video.expires_in_seconds, 300, "VIDEO_URL_SECONDS' default");
    const expiresIn = Date.parse(video.expires_at) - Date.now();
    assert.ok(expiresIn > 290_000 && expiresIn <= 300_000, String(expiresIn));
    const url = new URL(video.url);
    assert.equal(
      `${url.origin}${url.pathname}`,
      `${baseUrl}/storage/v1/object/sign/lesson-videos/lesson-67.webm`,
    );
    // Storage's token: HS256, the object it opens and its scope, for exactly the lifetime asked.
    const token = decodeJwt(url.searchParams.get("token")!);
    assert.equal(token.url, "lesson-videos/lesson-67.webm");
    assert.equal(token.scope, "download");
    assert.equal(token.exp! - token.iat!, 300);

    const whole = await fetch(video.url);
    const bytes = new Uint8Array(await whole.arrayBuffer());
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get("content-type"), "video/webm");
    assert.equal(whole.headers.get("accept-ranges"), "bytes");
    assert.deepEqual([...bytes.subarray(0, 4)], [0x1a, 0x45, 0xdf, 0xa3], "a WebM (EBML) file");
    const part = await fetch(video.url, { headers: { range: "bytes=100-199" } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get("content-range"), `bytes 100-199/${bytes.length}`);
    assert.deepEqual(new Uint8Array(await part.arrayBuffer()), bytes.subarray(100, 200));
    const tail = await fetch(video.url, { headers: { range: `bytes=${bytes.length - 10}-` } });
    assert.deepEqual(new Uint8Array(await tail.arrayBuffer()), bytes.subarray(bytes.length - 10));
    const beyond = await fetch(video.url, { headers: { range: `bytes=${bytes.length}-` } });
    await beyond.body?.cancel();
    assert.equal(beyond.status, 416);
    const head = await fetch(video.url, { method: "HEAD" });
    assert.equal(head.headers.get("content-length"), String(bytes.length));

    // The dashboard says there is a video, and no longer where.
    const dashboard = await expectJson(await callAs(student, "student-dashboard"));
    assert.equal(dashboard.modules[0].lessons[0].has_video, true);
    assert.equal(JSON.stringify(dashboard).includes("lesson-67.webm"), false);
  },
);

story(
  "the functions refuse a URL to anyone who may not watch that lesson now, and sign nothing",
  async () => {
    const student = await newStudent("Refused Video Student");
    await expectError(await callFunction("video-tracking/video?lesson_id=67"), 401, "missing_token");
    await expectError(await videoOf(aida.id, 67), 403, "forbidden");
    const invalid = await expectError(await videoOf(student, "first"), 400, "validation_failed");
    assert.deepEqual(invalid.error.details.map((detail: { path: string }) => detail.path), ["lesson_id"]);
    await expectError(await videoOf(student, 999), 404, "lesson_not_found");
    const locked = await expectError(await videoOf(student, 68), 409, "lesson_locked");
    assert.equal(locked.error.details.lesson_id, 68);

    // A lesson without a video, or whose object is not in the bucket: 404, whichever it is.
    const [{ video_path: path }] = await appDatabase
      .sql`select video_path from public.tripwire_lessons where id = 67`;
    try {
      await appDatabase.sql`update public.tripwire_lessons set video_path = null where id = 67`;
      await expectError(await videoOf(student, 67), 404, "video_not_found");
      await appDatabase
        .sql`update public.tripwire_lessons set video_path = 'never-uploaded.webm' where id = 67`;
      await expectError(await videoOf(student, 67), 404, "video_not_found");
    } finally {
      await appDatabase.sql`update public.tripwire_lessons set video_path = ${path} where id = 67`;
    }
    await expectJson(await videoOf(student, 67));
  },
);

story("a refund or a suspension refuses new URLs at once; the one given stops at its expiry", async () => {
  const refunded = await newStudent("Refunded Video Student");
  const given = await expectJson(await videoOf(refunded, 67));
  await expectJson(
    await callAs(aida.id, `students/${refunded}/refund`, { amount: 490, reason: "changed mind" }),
  );
  const refusal = await expectError(await videoOf(refunded, 67), 403, "access_revoked");
  assert.equal(refusal.error.details.status, "refunded");
  // Storage cannot take back a URL it signed: it works for its lifetime (VIDEO_URL_SECONDS) and no longer.
  const { exp } = decodeJwt(new URL(given.url).searchParams.get("token")!);
  assert.ok(exp! * 1000 <= Date.parse(given.expires_at) + 1000);

  const suspended = await newStudent("Suspended Video Student");
  await expectJson(await callAs(aida.id, `students/${suspended}/suspend`, { reason: "unpaid" }));
  const stopped = await expectError(await videoOf(suspended, 67), 403, "access_revoked");
  assert.equal(stopped.error.details.status, "suspended");
  await expectJson(await callAs(aida.id, `students/${suspended}/reactivate`, { reason: "paid" }));
  await expectJson(await videoOf(suspended, 67));
});

story("Storage refuses an expired, tampered or misused URL as Supabase Storage does", async () => {
  const student = await newStudent("Storage Refusals Student");
  const { url } = await expectJson(await videoOf(student, 67));
  const token = new URL(url).searchParams.get("token")!;
  const object = (path: string, withToken: string) =>
    `${baseUrl}/storage/v1/object/sign/lesson-videos/${path}?token=${withToken}`;

  // Expired: signed by the real client for one second.
  const { data, error } = await storageAs(serviceKey).from("lesson-videos").createSignedUrl(
    "lesson-67.webm",
    1,
  );
  assert.equal(error, null);
  await new Promise((resolve) => setTimeout(resolve, 2100));
  assert.deepEqual(await storageRefusal(data!.signedUrl), {
    status: 400,
    body: {
      statusCode: "400",
      code: "InvalidJWT",
      error: "InvalidJWT",
      message: '"exp" claim timestamp check failed',
    },
  });
  // Tampered: the signature, or the object it names.
  const [header, payload, signature] = token.split(".");
  const flipped = `${signature.slice(0, -2)}${signature.at(-2) === "A" ? "B" : "A"}${signature.at(-1)}`;
  const badSignature = await storageRefusal(object("lesson-67.webm", `${header}.${payload}.${flipped}`));
  assert.equal(badSignature.status, 400);
  assert.equal(badSignature.body.code, "InvalidJWT");
  assert.equal(badSignature.body.message, "signature verification failed");
  const otherObject = btoa(JSON.stringify({ ...decodeJwt(token), url: "lesson-videos/lesson-69.webm" }))
    .replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  const forged = await storageRefusal(object("lesson-69.webm", `${header}.${otherObject}.${signature}`));
  assert.equal(forged.body.code, "InvalidJWT");
  // A good token on another object, a token signed with another secret, a sign-in token, no token.
  assert.deepEqual(await storageRefusal(object("lesson-69.webm", token)), {
    status: 400,
    body: {
      statusCode: "400",
      code: "InvalidSignature",
      error: "InvalidSignature",
      message: "Invalid signature",
    },
  });
  const strange = await new SignJWT({ url: "lesson-videos/lesson-67.webm", scope: "download" })
    .setProtectedHeader({ alg: "HS256" }).setIssuedAt().setExpirationTime("1h")
    .sign(new TextEncoder().encode("another-project-secret-with-at-least-32-chars"));
  assert.equal((await storageRefusal(object("lesson-67.webm", strange))).body.code, "InvalidJWT");
  const signIn = await tokenFor(student);
  assert.equal((await storageRefusal(object("lesson-67.webm", signIn))).body.code, "InvalidSignature");
  const noToken = await storageRefusal(`${baseUrl}/storage/v1/object/sign/lesson-videos/lesson-67.webm`);
  assert.equal(noToken.status, 400);
  assert.equal(noToken.body.message, "querystring must have required property 'token'");

  // Only the secret key signs: a student's own session sees no object in the private bucket, and a key
  // that is not the project's is no key at all.
  const own = await storageAs("publishable-key", signIn).from("lesson-videos").createSignedUrl(
    "lesson-67.webm",
    60,
  );
  assert.equal(own.data, null);
  assert.deepEqual({ ...own.error }, {
    __isStorageError: true,
    name: "StorageApiError",
    namespace: "storage",
    status: 400,
    statusCode: "404",
    code: "NoSuchKey",
  });
  assert.equal(own.error?.message, "Object not found");
  const stranger = await storageAs("sb_secret_not_this_project").from("lesson-videos")
    .createSignedUrl("lesson-67.webm", 60);
  assert.equal((stranger.error as { statusCode?: string }).statusCode, "403");
  const unknownBucket = await storageAs(serviceKey).from("videos").createSignedUrl("lesson-67.webm", 60);
  assert.equal((unknownBucket.error as { statusCode?: string }).statusCode, "404");
  assert.equal(unknownBucket.error?.message, "Bucket not found");

  // Nothing is public: no public route for the bucket, and the old /media URLs are gone.
  for (const path of ["storage/v1/object/public/lesson-videos/lesson-67.webm", "media/lesson-67.webm"]) {
    const response = await fetch(`${baseUrl}/${path}`);
    await response.body?.cancel();
    assert.equal(response.status, 404, path);
  }
  // The signed URL a student was given still opens only its own object, and only within the bucket.
  for (const path of ["..%2Fseed.sql", "lesson-67.webm%2F..%2F..%2Fconfig.toml"]) {
    const response = await fetch(object(path, token));
    await response.body?.cancel();
    assert.equal(response.status, 400, path);
  }
});

/**
 * The functions, really served over HTTP, against a migrated test database. The environment is set
 * here, before any function reads its configuration, exactly as `npm start` or Supabase would.
 */
import { createClient } from "@supabase/supabase-js";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { checkedFetch } from "./contract.ts";
import { startCloudPaymentsApi } from "./cloudpayments_api.ts";
import { createMigratedDatabase } from "./database.ts";

export const jwtSecret = "test-only-jwt-secret-with-at-least-32-characters";
/** The project's secret key in the tests (what a scheduler presents). */
export const serviceKey = "sb_secret_test_only_service_key";
/** The payment providers' secrets, as function secrets (payments function). */
export const standardWebhooksSecret = `whsec_${btoa("test-only-standard-webhooks-secret!")}`;
export const cloudPaymentsSecret = "test-only-cloudpayments-api-secret";
/** The academy's Main platform signs main-course purchases with its own secret. */
export const mainPlatformSecret = `whsec_${btoa("test-only-main-platform-secret!!!!")}`;
export const signingKeys = await generateKeyPair("ES256", { extractable: true });
export const signingKeyId = "test-es256";

export const appDatabase = await createMigratedDatabase();
Deno.env.set("DATABASE_URL", appDatabase.url);
Deno.env.set("JWT_SECRET", jwtSecret);
// The local stack: e-mails may go to the log, links may lead to this machine.
Deno.env.set("LOCAL_STACK", "on");
// The test CRMs listen on this machine; a deployed project never allows that.
Deno.env.set("WEBHOOKS_TO_LOOPBACK", "allowed");
// The tests stand in for Supabase's gateway: the last X-Forwarded-For entry they send is the client's.
Deno.env.set("TRUSTED_PROXY_HOPS", "1");
// Enough connections for ten requests to wait at one lock at once (tests/support/barrier.ts).
Deno.env.set("DB_POOL_SIZE", "16");
Deno.env.set("SUPABASE_SECRET_KEYS", JSON.stringify({ default: serviceKey }));
Deno.env.set("PAYMENTS_STANDARD_SECRET", standardWebhooksSecret);
Deno.env.set("CLOUDPAYMENTS_API_SECRET", cloudPaymentsSecret);
Deno.env.set("MAIN_PLATFORM_WEBHOOK_SECRET", mainPlatformSecret);
/** CloudPayments' API, for refunds through the provider: a server that answers as its documentation says. */
export const cloudPaymentsApi = startCloudPaymentsApi("pk_test_tripwire", cloudPaymentsSecret);
Deno.env.set("CLOUDPAYMENTS_PUBLIC_ID", "pk_test_tripwire");
Deno.env.set("CLOUDPAYMENTS_API_URL", cloudPaymentsApi.url);
Deno.env.set(
  "SUPABASE_JWKS",
  JSON.stringify({
    keys: [{ ...(await exportJWK(signingKeys.publicKey)), kid: signingKeyId, alg: "ES256" }],
  }),
);

const { localStackHandler } = await import("../../scripts/serve.ts");
const { openSession } = await import("../../scripts/lib/local_stack.ts");
const { db } = await import("../../supabase/functions/_shared/db.ts");
const { startLocalAuth } = await import("../../scripts/lib/local_auth/server.ts");

// The local stack as `npm start` serves it: functions, the local sign-in at /auth/v1, Storage at /storage/v1.
/** Supabase Auth as the functions reach it here (SUPABASE_URL): the local stand-in, admin routes and all. */
export const localAuth = await startLocalAuth({
  databaseUrl: appDatabase.url,
  jwtSecret,
  secretKeys: [serviceKey],
  issuer: "tripwire-tests",
});
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  // What the functions write to Storage (the certificates' PDFs) goes to this run's own folder.
  localStackHandler(localAuth, { writtenObjects: await Deno.makeTempDir({ prefix: "tripwire-storage-" }) }),
);
/** Base URL of the running local stack, like http://127.0.0.1:54321. */
export const baseUrl = `http://127.0.0.1:${server.addr.port}`;
// The project's API URL, as Supabase sets it: the functions reach Storage (signed videos) there.
Deno.env.set("SUPABASE_URL", baseUrl);

/** Calls a function by URL, as a browser or supabase-js would; the answer is checked against the contract. */
export function callFunction(path: string, init: RequestInit = {}): Promise<Response> {
  return checkedFetch(`${baseUrl}/functions/v1/${path}`, init);
}

/**
 * A person signed in as Supabase Auth signs them in: a session opened in `auth.sessions` (none for an
 * unknown user), and the claims a token for it carries. The functions refuse a token whose session is gone.
 */
export async function signedIn(userId: string): Promise<{ sub: string; session_id: string }> {
  return { sub: userId, session_id: await openSession(db(), userId) };
}

/**
 * A token as Supabase Auth signs it (HS256 with the legacy secret, or ES256 with the project key), naming a
 * session just opened for the user, or `session` when given (one that ended, say).
 */
export async function tokenFor(
  userId: string,
  options: {
    alg?: "HS256" | "ES256";
    expiresIn?: string | number;
    role?: string;
    secret?: string;
    session?: string;
  } = {},
): Promise<string> {
  const session = options.session ?? (await signedIn(userId)).session_id;
  const jwt = new SignJWT({
    role: options.role ?? "authenticated",
    email: `${userId}@example.kz`,
    session_id: session,
  })
    .setSubject(userId)
    .setAudience("authenticated")
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? "1h");
  if (options.alg === "ES256") {
    return await jwt.setProtectedHeader({ alg: "ES256", kid: signingKeyId, typ: "JWT" }).sign(
      signingKeys.privateKey,
    );
  }
  return await jwt.setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(options.secret ?? jwtSecret));
}

/**
 * A test that talks to the shared server and pool. Those outlive any one test (the process ends
 * them; `npm test` drops the database), so the per-test resource sanitizers are off here.
 */
export function story(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

/** Calls a function as `userId` (a token for them): GET without a body, POST with it as JSON (or `method`). */
export async function callAs(
  userId: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  method = body === undefined ? "GET" : "POST",
): Promise<Response> {
  return await callFunction(path, {
    method,
    headers: {
      authorization: `Bearer ${await tokenFor(userId)}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** The scheduler's analytics refresh (or the nightly rebuild), as the scheduler calls it. */
export async function refreshAnalytics(rebuild = false): Promise<void> {
  const response = await callFunction(`leaderboard/refresh${rebuild ? "?rebuild=true" : ""}`, {
    method: "POST",
    headers: { apikey: serviceKey },
  });
  await response.body?.cancel();
  if (response.status !== 200) throw new Error(`the refresh answered ${response.status}`);
}

/** The names of the stored PDFs of a certificate, in the local Storage's `certificates` bucket. */
export async function certificateFiles(certificateNumber: string): Promise<string[]> {
  const storage = createClient(baseUrl, serviceKey, {
    auth: { persistSession: false, autoRefreshToken: false },
  })
    .storage.from("certificates");
  const { data, error } = await storage.list(certificateNumber);
  if (error) throw error;
  return data.map((entry) => `${certificateNumber}/${entry.name}`);
}

/**
 * `Idempotency-Key` for the routes that take one (creating a student, a refund): per manager, a key
 * names one request. The first request owns the key; a retry with the same body gets the stored first
 * response (waiting while the first is still running), a different body gets 422, and a failed request
 * releases the key. `resource_id` is the student the request is about (for a creation, the login it
 * made, which a takeover of an abandoned creation deletes if no student came of it).
 */
import type { PrivateRow, Sql, Transaction } from "../_shared/db.ts";
import { HttpError } from "../_shared/errors.ts";
import { sha256 } from "../_shared/hash.ts";

/** A request that has held a key this long without finishing is treated as abandoned (a crashed isolate). */
const abandonedAfterSeconds = 30;
/** How long a retry waits for the first request before answering 409 `request_in_progress`. */
const waitLimitMs = 10_000;

export interface StoredResponse {
  status: number;
  body: Record<string, unknown>;
  sealedPassword: string | null;
}

export type Claim =
  /** This request does the work; `abandonedUserId` is a login a crashed earlier owner may have left. */
  | { kind: "owner"; abandonedUserId: string | null }
  | { kind: "replay"; response: StoredResponse };

type KeyRow =
  & Pick<
    PrivateRow<"idempotency_keys">,
    "request_hash" | "response_status" | "sealed_password" | "resource_id"
  >
  & {
    // idempotency_keys_state_valid allows exactly these.
    state: "in_progress" | "completed";
    response_body: Record<string, unknown> | null;
    row_version: string;
    expired: boolean;
    abandoned: boolean;
  };

/** SHA-256 of the request's normalised input: the same key must come with the same request. */
export function requestHash(input: unknown): string {
  return sha256(JSON.stringify(input));
}

const idempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/;

/** The `Idempotency-Key` request header, for `describe({ headers })`. */
export const idempotencyKeyHeader = {
  in: "header" as const,
  name: "Idempotency-Key",
  required: false,
  description: "Makes a retry safe: the same key with the same body answers the first response, once.",
  schema: { type: "string" as const, pattern: idempotencyKeyPattern.source },
};

/** The request's `Idempotency-Key` header, validated (400 naming the header), or undefined without one. */
export function idempotencyKeyOf(header: string | undefined): string | undefined {
  if (header !== undefined && !idempotencyKeyPattern.test(header)) {
    throw new HttpError(400, "validation_failed", "Idempotency-Key: 1–255 visible ASCII characters", [
      { path: "Idempotency-Key", message: "1–255 visible ASCII characters" },
    ]);
  }
  return header;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Claims `key` for this request (which will create `userId`), or returns the first response to
 * replay. Never blocks a connection while waiting: it polls, so a small pool cannot starve.
 */
export async function claimKey(
  sql: Sql,
  scope: { managerId: string; key: string; hash: string; userId: string },
): Promise<Claim> {
  const deadline = Date.now() + waitLimitMs;
  for (let pause = 20;; pause = Math.min(pause * 1.5, 250)) {
    const [fresh] = await sql`
      insert into private.idempotency_keys (manager_id, idempotency_key, request_hash, resource_id)
      values (${scope.managerId}, ${scope.key}, ${scope.hash}, ${scope.userId})
      on conflict (manager_id, idempotency_key) do nothing
      returning 1 as claimed`;
    if (fresh) return { kind: "owner", abandonedUserId: null };

    const [row] = await sql<KeyRow[]>`
      select request_hash, state, response_status, response_body, sealed_password, resource_id, xmin::text as row_version,
             expires_at <= now() as expired,
             updated_at < now() - make_interval(secs => ${abandonedAfterSeconds}) as abandoned
      from private.idempotency_keys
      where manager_id = ${scope.managerId} and idempotency_key = ${scope.key}`;
    if (!row) continue;
    if (row.expired) {
      await sql`
        delete from private.idempotency_keys
        where manager_id = ${scope.managerId} and idempotency_key = ${scope.key} and expires_at <= now()`;
      continue;
    }
    if (row.request_hash !== scope.hash) {
      throw new HttpError(
        422,
        "idempotency_key_reused",
        "This Idempotency-Key was used with a different request body; use a new key for a new request",
      );
    }
    if (row.state === "completed") {
      return {
        kind: "replay",
        response: {
          status: row.response_status!,
          body: row.response_body!,
          sealedPassword: row.sealed_password,
        },
      };
    }
    if (row.abandoned) {
      // Compare-and-set on the row version: of several retries, exactly one takes the key over.
      const [takenOver] = await sql`
        update private.idempotency_keys set resource_id = ${scope.userId}, updated_at = now()
        where manager_id = ${scope.managerId} and idempotency_key = ${scope.key}
          and state = 'in_progress' and xmin::text = ${row.row_version}
        returning 1 as claimed`;
      if (takenOver) return { kind: "owner", abandonedUserId: row.resource_id };
      continue;
    }
    if (Date.now() + pause > deadline) {
      throw new HttpError(
        409,
        "request_in_progress",
        "A request with this Idempotency-Key is still running; retry it in a moment",
      );
    }
    await sleep(pause);
  }
}

/**
 * Stores the response inside the creating transaction, so the student and the replayable answer
 * commit together. Fails (and so rolls the creation back) if the key was taken over meanwhile.
 */
export async function completeKey(
  tx: Transaction,
  scope: { managerId: string; key: string; userId: string },
  response: StoredResponse,
): Promise<void> {
  const [stored] = await tx`
    update private.idempotency_keys
    set state = 'completed', response_status = ${response.status}, response_body = ${
    tx.json(response.body as never)
  },
        sealed_password = ${response.sealedPassword}
    where manager_id = ${scope.managerId} and idempotency_key = ${scope.key}
      and resource_id = ${scope.userId} and state = 'in_progress'
    returning 1 as stored`;
  if (!stored) {
    throw new HttpError(
      409,
      "request_in_progress",
      "Another request took over this Idempotency-Key; retry it",
    );
  }
}

/** Updates a stored response after commit (the welcome e-mail's outcome is known only then). */
export async function amendStoredResponse(
  sql: Sql,
  scope: { managerId: string; key: string },
  welcomeEmail: string,
): Promise<void> {
  await sql`
    update private.idempotency_keys
    set response_body = jsonb_set(response_body, '{welcome_email}', to_jsonb(${welcomeEmail}::text))
    where manager_id = ${scope.managerId} and idempotency_key = ${scope.key} and state = 'completed'`;
}

/** Lets a retry run afresh after this request failed without creating anything. */
export async function releaseKey(sql: Sql, scope: { managerId: string; key: string; userId: string }) {
  await sql`
    delete from private.idempotency_keys
    where manager_id = ${scope.managerId} and idempotency_key = ${scope.key}
      and resource_id = ${scope.userId} and state = 'in_progress'`;
}

// A manager (or admin) creates a complete student account after a sale; the scheduler retries
// welcome e-mails the provider refused.
import { createApp, requireRole, requireServiceRole, validationError, zJson } from "../_shared/app.ts";
import { createTripwireUser, NewStudent } from "./create_tripwire_user.ts";
import { purgeExpiredKeys } from "./idempotency.ts";
import { sendQueuedEmails } from "./welcome_email.ts";

const idempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/;

export const app = createApp("create-tripwire-user")
  .post("/", requireRole("manager", "admin"), zJson(NewStudent), async (c) => {
    const key = c.req.header("idempotency-key");
    if (key !== undefined && !idempotencyKeyPattern.test(key)) {
      throw validationError([
        { code: "custom", path: ["Idempotency-Key"], message: "1–255 visible ASCII characters", input: key },
      ]);
    }
    const result = await createTripwireUser(c.get("user"), c.req.valid("json"), key);
    c.header("cache-control", "no-store"); // the body holds a password
    if (result.replayed) c.header("idempotent-replayed", "true");
    return c.json(result.body, result.status);
  })
  .post(
    "/retry-emails",
    requireServiceRole(),
    async (c) =>
      c.json({ emails: await sendQueuedEmails(), expired_idempotency_keys: await purgeExpiredKeys() }),
  );

if (import.meta.main) Deno.serve(app.fetch);

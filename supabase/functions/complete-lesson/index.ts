// A student completes a watched lesson; the next module unlocks, the last earns a certificate that
// anyone can verify (GET /complete-lesson/certificate/<number>, no token: the function verifies JWTs
// itself, so verify_jwt = false in config.toml already lets this public route through).
import { createApp, requireRole, zJson } from "../_shared/app.ts";
import { CompleteLesson, completeLesson, verifyCertificate } from "./complete_lesson.ts";

export const app = createApp("complete-lesson")
  .post(
    "/",
    requireRole("student"),
    zJson(CompleteLesson),
    async (c) => c.json(await completeLesson(c.get("user"), c.req.valid("json"))),
  )
  .get("/certificate/:number", async (c) => c.json(await verifyCertificate(c.req.param("number"))));

if (import.meta.main) Deno.serve(app.fetch);

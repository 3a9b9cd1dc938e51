import { prepareDatabase } from "./lib/database.ts";
await prepareDatabase(Deno.env.get("DATABASE_URL")!);

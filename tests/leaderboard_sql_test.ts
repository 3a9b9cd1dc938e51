/** The analytics' SQL side: PostgREST reloads after a migration, and the request schemas hold the SQL's limits. */
import assert from "node:assert/strict";
import postgres from "postgres";
import { applyMigrations } from "../scripts/lib/database.ts";
import { createMigratedDatabase, migrationsProject } from "./support/database.ts";

import {
  ActivityQuery,
  ChartQuery,
  LeaderboardQuery,
  maxChartDays,
} from "../supabase/functions/leaderboard/leaderboard.ts";
import { maxPageSize } from "../supabase/functions/_shared/paging.ts";
import { story } from "./support/server.ts";

import { sql } from "./support/analytics.ts";

Deno.test("a migration that adds an RPC is followed by `reload schema` on the pgrst channel", async () => {
  const database = await createMigratedDatabase();
  const listener = postgres(database.url, { max: 1, onnotice: () => {} });
  // A project folder with every migration and one more, as a developer adds one.
  const project = await migrationsProject(() => true, {
    "29991231000000_new_rpc.sql":
      "create function public.tripwire_new_rpc() returns integer language sql as $$ select 1 $$;\n",
  });
  try {
    const received: string[] = [];
    await listener.listen("pgrst", (payload) => received.push(payload));

    await applyMigrations(database.url, project.path);
    for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(received.includes("reload schema"), `got ${JSON.stringify(received)}`);
    const [row] = await database.sql`select to_regprocedure('public.tripwire_new_rpc()') as rpc`;
    assert.ok(row.rpc);
  } finally {
    await project.remove();
    await listener.end();
    await database.drop();
  }
});

story("the request schemas enforce exactly the SQL's limits (the SQL is the truth)", async () => {
  const [truth] = await sql<{ page: number; days: number }[]>`
    select analytics.max_page_size() as page, analytics.max_chart_days() as days`;
  assert.equal(maxPageSize, truth.page);
  assert.equal(maxChartDays, truth.days);
  for (const schema of [LeaderboardQuery, ActivityQuery]) {
    assert.equal(schema.safeParse({ limit: String(truth.page) }).success, true);
    assert.equal(schema.safeParse({ limit: String(truth.page + 1) }).success, false);
    assert.equal(schema.safeParse({ limit: "0" }).success, false);
  }
  const dayAfter = (first: string, days: number) =>
    new Date(Date.parse(`${first}T00:00:00Z`) + (days - 1) * 86_400_000).toISOString().slice(0, 10);
  assert.equal(
    ChartQuery.safeParse({ from: "2026-01-01", to: dayAfter("2026-01-01", truth.days) }).success,
    true,
  );
  assert.equal(
    ChartQuery.safeParse({ from: "2026-01-01", to: dayAfter("2026-01-01", truth.days + 1) }).success,
    false,
  );
});

/**
 * Requests that really meet at a row lock. A test's own transaction holds the lock while the requests are
 * sent over HTTP; once `waiters` of the functions' connections are seen waiting for a lock in
 * pg_stat_activity, the transaction ends and they all race for the row at the same moment. Without this, two
 * requests from one process often never overlap at the lock at all.
 */
import type postgres from "postgres";

export async function meetAtLock<T>(
  sql: postgres.Sql,
  lock: (tx: postgres.TransactionSql) => Promise<unknown>,
  waiters: number,
  send: () => Promise<T>[],
): Promise<T[]> {
  let sent: Promise<T[]> | undefined;
  await sql.begin(async (tx) => {
    await lock(tx);
    sent = Promise.all(send());
    const deadline = Date.now() + 15_000;
    for (;;) {
      const [{ waiting }] = await sql<{ waiting: number }[]>`
        select count(*)::int as waiting from pg_stat_activity
        where datname = current_database() and application_name = 'tripwire-functions'
          and wait_event_type = 'Lock'`;
      if (waiting >= waiters) break;
      if (Date.now() > deadline) throw new Error(`only ${waiting} of ${waiters} requests reached the lock`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
  return await sent!;
}

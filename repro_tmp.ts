import postgres from "postgres";
const url = "postgresql://postgres@127.0.0.1:5432/postgres";
await postgres(url, {max:1})`drop database if exists reprodb`.catch(()=>{});
await postgres(url, {max:1})`create database reprodb`;
const dbu = "postgresql://postgres@127.0.0.1:5432/reprodb";
const sql = postgres(dbu, { max: 4, onnotice: () => {}, backoff: () => 0.05 });
const admin = postgres(dbu, { max: 1, onnotice: () => {} });
let running = true, answered = 0; const failures = new Set<string>();
const state = new Array(16).fill("idle");
const workers = Array.from({ length: 16 }, async (_, worker) => {
  while (running) {
    try {
      state[worker] = "q";
      if (worker % 2) await sql.begin(async (tx) => [await tx`select ${worker}::int`, await tx`select 1`]);
      else await sql`select ${worker}::int as n, pg_sleep(0.002)`;
      answered++;
    } catch (error) { failures.add(String((error as any).code)); }
    state[worker] = "done";
  }
  state[worker] = "exit";
});
for (let round = 0; round < 30; round++) {
  await new Promise((resolve) => setTimeout(resolve, 50));
  await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`;
}
console.log("rounds done", answered, failures);
running = false;
const t = setInterval(() => console.log(state.join(","), answered), 2000);
await Promise.all(workers);
clearInterval(t);
console.log(await sql`select 1 as one`);
await sql.end(); await admin.end();

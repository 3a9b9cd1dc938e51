-- Every heartbeat rewrites its video_tracking row. Packed full (fillfactor 100), a page has no room for the
-- new version beside the old one, so updates stop being HOT, every index grows with each heartbeat, and the
-- table bloats between autovacuum runs: in the benchmark (100 students, 30,000 heartbeats) the table grew
-- from 1.4 MB to 21 MB and the HOT share fell to two thirds. With room left on each page and autovacuum
-- triggered by dead rows early, the table stayed at 0.5 MB, updates stayed HOT, and p99 fell from ≈ 37 ms to
-- ≈ 30 ms (docs/benchmarks.md). fillfactor applies to pages written from now on: an existing deployment
-- gets it fully at its next `VACUUM FULL` / `pg_repack` of the table, which a migration must not take.
alter table public.video_tracking set (
  fillfactor = 70,
  autovacuum_vacuum_scale_factor = 0.02,
  autovacuum_vacuum_threshold = 1000
);

notify pgrst, 'reload schema';

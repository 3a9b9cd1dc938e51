-- Limits where abuse is cheap (docs/architecture.md, "Limits"): a sale's ceiling and a manager's creations
-- per minute are academy settings; a student's heartbeats are a token bucket on the tracking row, checked
-- in the heartbeat's own UPDATE (no extra round trip).
alter table analytics.settings add column if not exists max_payment_amount numeric(12, 2) not null default 10000000;
comment on column analytics.settings.max_payment_amount is
  'The largest payment one sale may record: a typo or a hostile manager cannot buy rank 1 or break the sums.';
alter table analytics.settings drop constraint if exists settings_max_payment_amount_positive;
alter table analytics.settings add constraint settings_max_payment_amount_positive check (max_payment_amount > 0);

alter table analytics.settings add column if not exists student_creations_per_minute integer not null default 60;
comment on column analytics.settings.student_creations_per_minute is
  'How many students one manager may create in any 60 seconds; beyond it creation answers 429.';
alter table analytics.settings drop constraint if exists settings_student_creations_per_minute_positive;
alter table analytics.settings add constraint settings_student_creations_per_minute_positive
  check (student_creations_per_minute > 0);

alter table public.video_tracking add column if not exists heartbeat_tokens real not null default 10;
comment on column public.video_tracking.heartbeat_tokens is
  'Heartbeats this row may still take at once: refills at the allowed rate up to the burst; a heartbeat costs 1.';

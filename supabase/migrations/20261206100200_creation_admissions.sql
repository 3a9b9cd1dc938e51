-- A manager's creations are limited per minute (analytics.settings.student_creations_per_minute). The limit
-- counted committed students, so creations admitted at once but not yet committed were not counted: 100
-- creations over 20 connections made 70 under a limit of 60. Now each admission is written on the manager's
-- own row here, by an upsert that waits for any other admission of this manager and then sees its row as
-- committed, so admissions at once are counted one after the other and land exactly on the limit. A creation
-- that fails after its admission gives it back (nothing was created).
create table if not exists private.creation_admissions (
  manager_id uuid primary key,
  -- when this manager's creations were admitted within the last minute (at most the limit of them)
  admissions timestamptz[] not null default '{}'
);
comment on table private.creation_admissions is
  'Each manager''s admissions of the last minute: the creation limit, counted under the row''s lock';
revoke all on table private.creation_admissions from public, anon, authenticated;

-- What a student has watched and completed. Written only by video-tracking and complete-lesson.

create table if not exists public.student_progress (
  user_id uuid not null references public.tripwire_users (user_id) on delete cascade,
  lesson_id integer not null references public.tripwire_lessons (id) on delete restrict,
  status text not null default 'not_started',
  -- server-measured share watched when the lesson was completed
  watch_percentage numeric(5, 2) not null default 0,
  started_at timestamptz,
  completed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (user_id, lesson_id),
  constraint student_progress_status_valid check (status in ('not_started', 'in_progress', 'completed')),
  constraint student_progress_percentage_range check (watch_percentage between 0 and 100),
  constraint student_progress_completed_at_matches_status check ((status = 'completed') = (completed_at is not null))
);

revoke all on table public.student_progress from anon, authenticated, service_role;
grant select on table public.student_progress to authenticated;
grant select, insert, update, delete on table public.student_progress to service_role;

alter table public.student_progress enable row level security;

create index if not exists student_progress_lesson_id on public.student_progress (lesson_id);
-- lessons completed per day feed the analytics
create index if not exists student_progress_completed_at on public.student_progress (completed_at desc) where status = 'completed';

create or replace trigger student_progress_set_updated_at
  before update on public.student_progress
  for each row execute function private.set_updated_at();

drop policy if exists "Students, their managers and admins read progress" on public.student_progress;
create policy "Students, their managers and admins read progress"
  on public.student_progress for select to authenticated
  using (
    user_id = (select auth.uid())
    or (select private.is_admin())
    or user_id in (select tu.user_id from public.tripwire_users tu where tu.granted_by = (select auth.uid()))
  );

create table if not exists public.video_tracking (
  user_id uuid not null references public.tripwire_users (user_id) on delete cascade,
  lesson_id integer not null references public.tripwire_lessons (id) on delete restrict,
  -- every second really watched, merged: overlaps and re-watching count once
  watched_ranges nummultirange not null default '{}',
  watched_seconds numeric(10, 2) not null default 0,
  watch_percentage numeric(5, 2) not null default 0,
  status text not null default 'not_started',
  -- set once watch_percentage first reaches the lesson's min_watch_percentage
  qualified_at timestamptz,
  -- seconds a client claimed but the plausibility check did not credit
  rejected_seconds numeric(12, 2) not null default 0,
  last_position_seconds numeric(10, 2),
  last_playback_rate numeric(4, 2),
  heartbeat_count integer not null default 0,
  last_heartbeat_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (user_id, lesson_id),
  constraint video_tracking_watched_seconds_non_negative check (watched_seconds >= 0),
  constraint video_tracking_percentage_range check (watch_percentage between 0 and 100),
  constraint video_tracking_status_valid check (status in ('not_started', 'in_progress', 'completed')),
  constraint video_tracking_rejected_seconds_non_negative check (rejected_seconds >= 0),
  constraint video_tracking_last_position_non_negative check (last_position_seconds >= 0),
  constraint video_tracking_playback_rate_range check (last_playback_rate > 0 and last_playback_rate <= 16),
  constraint video_tracking_heartbeat_count_non_negative check (heartbeat_count >= 0)
);

revoke all on table public.video_tracking from anon, authenticated, service_role;
grant select on table public.video_tracking to authenticated;
grant select, insert, update, delete on table public.video_tracking to service_role;

alter table public.video_tracking enable row level security;

create index if not exists video_tracking_lesson_id on public.video_tracking (lesson_id);
-- "students active" in the analytics: who heartbeated when
create index if not exists video_tracking_last_heartbeat_at on public.video_tracking (last_heartbeat_at desc) where last_heartbeat_at is not null;

create or replace trigger video_tracking_set_updated_at
  before update on public.video_tracking
  for each row execute function private.set_updated_at();

drop policy if exists "Students, their managers and admins read video tracking" on public.video_tracking;
create policy "Students, their managers and admins read video tracking"
  on public.video_tracking for select to authenticated
  using (
    user_id = (select auth.uid())
    or (select private.is_admin())
    or user_id in (select tu.user_id from public.tripwire_users tu where tu.granted_by = (select auth.uid()))
  );

notify pgrst, 'reload schema';

-- The sessions and refresh tokens of the local sign-in (scripts/lib/local_auth/), with GoTrue's table
-- and column names. Applied only where Supabase Auth does not run (no supabase_auth_admin role): locally.
-- One difference from GoTrue: `refresh_tokens.token` and `parent` hold the SHA-256 of a token, never the
-- token, so a copy of this database signs nobody in.
-- auth.sessions itself comes with auth.users (scripts/sql/bootstrap_plain_postgres.sql); a local database made
-- before it lived there lacks its time box.
alter table auth.sessions add column if not exists not_after timestamptz;

create table if not exists auth.refresh_tokens (
  instance_id uuid,
  id bigserial primary key,
  token varchar(255) not null unique,
  user_id varchar(255) not null,
  revoked boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  parent varchar(255),
  session_id uuid not null references auth.sessions (id) on delete cascade
);
create index if not exists refresh_tokens_session_id_idx on auth.refresh_tokens (session_id);

-- The sessions and refresh tokens of the local sign-in (scripts/lib/local_auth.ts), with GoTrue's table
-- and column names. Applied only where Supabase Auth does not run (no supabase_auth_admin role): locally.
-- One difference from GoTrue: `refresh_tokens.token` and `parent` hold the SHA-256 of a token, never the
-- token, so a copy of this database signs nobody in.
create table if not exists auth.sessions (
  id uuid not null primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  aal text not null default 'aal1',
  refreshed_at timestamptz,
  user_agent text
);
create index if not exists sessions_user_id_idx on auth.sessions (user_id);

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

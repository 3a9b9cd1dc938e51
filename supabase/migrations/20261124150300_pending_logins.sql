-- A login made for a student whose rows were never written (the database went down between the two, or
-- the compensating delete failed) must not stay behind. Creation notes the login's id here in the same
-- statement that admits the request, before the login exists; writing the student removes the note in
-- its transaction. The scheduler deletes the logins of notes older than five minutes whose student never
-- came (create-tripwire-user/retry-emails), then the notes.
create table if not exists private.pending_logins (
  user_id uuid primary key,
  manager_id uuid not null,
  created_at timestamptz not null default now()
);
comment on table private.pending_logins is
  'Logins being made for a new student: a row outliving its creation names a login to delete.';
revoke all on table private.pending_logins from public, anon, authenticated;

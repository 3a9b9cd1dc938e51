-- One way to run as the caller: the functions' `asCaller` (supabase/functions/_shared/db.ts) takes on role
-- authenticated and the caller's claims for one transaction, as PostgREST does, for any statement. The
-- analytics' own way in, a CASE over RPC names, goes.
drop function if exists private.call_as_user(uuid, text, jsonb);

notify pgrst, 'reload schema';

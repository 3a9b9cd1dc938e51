-- CSV exports handed over in chunks (issue: within Supabase's limits).
--
-- An export's query writes each row as its CSV line (students/exports.ts, csvLine). Read through a cursor a
-- row at a time, a million lines still cost the students function 4 s of CPU — postgres.js handles every row
-- as a message of its own — twice what Supabase allows a request. The export now declares the cursor and asks
-- this function for the next lines, joined into one text: a thousand rows cost the function one message.

create function private.export_chunk(portal refcursor, lines integer)
  returns text
  language plpgsql
  set search_path = ''
as $$
declare
  line text;
  chunk text[] := '{}';
begin
  for i in 1..lines loop
    fetch portal into line;
    exit when not found;
    -- An expanded array: appending does not copy what is there.
    chunk := chunk || line;
  end loop;
  if pg_catalog.cardinality(chunk) = 0 then
    return null;
  end if;
  return pg_catalog.array_to_string(chunk, '');
end
$$;

revoke all on function private.export_chunk(refcursor, integer) from public, anon, authenticated, service_role;

comment on function private.export_chunk(refcursor, integer) is
  'The next `lines` rows of an open cursor of one text column (an export''s CSV lines), joined into one text; '
  'null when the cursor is done. Called by students/exports.ts, which declares the cursor in its transaction.';

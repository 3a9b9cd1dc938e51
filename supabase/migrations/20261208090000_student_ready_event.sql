-- The second sale's event (issue: the second sale): `student.ready`, sent the first time a graduate's heat
-- score reaches the call list's threshold, so the academy's CRM can open a task for the manager. Its own
-- migration: a new enum value cannot be used in the transaction that adds it, and the next one uses it.
alter type public.webhook_event_type add value 'student.ready';

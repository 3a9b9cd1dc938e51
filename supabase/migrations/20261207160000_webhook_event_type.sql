-- Event types from one list (issue: labelled rooms). They were a TypeScript list and two CHECKs, held together
-- by hope; now the enum is the list: `supabase gen types` carries it into the functions' `Constants`
-- (_domain/event_types.ts), so the API's schema, the web app's choices and the tables cannot disagree.

create type public.webhook_event_type as enum (
  'student.created', 'lesson.started', 'lesson.completed', 'course.completed', 'student.stalled',
  'student.refunded', 'student.suspended'
);
comment on type public.webhook_event_type is
  'What the academy''s CRM can hear of (docs/architecture.md, "Events out"): each value is one event''s type. '
  'Only ever added to, at the end: an endpoint subscribes by these names.';

alter table private.webhook_events drop constraint webhook_events_type_known;
alter table private.webhook_events
  alter column event_type type public.webhook_event_type using event_type::public.webhook_event_type;

alter table private.webhook_endpoints drop constraint webhook_endpoints_event_types_known;
alter table private.webhook_endpoints
  alter column event_types type public.webhook_event_type[] using event_types::public.webhook_event_type[];
alter table private.webhook_endpoints add constraint webhook_endpoints_event_types_known
  check (pg_catalog.cardinality(event_types) > 0);

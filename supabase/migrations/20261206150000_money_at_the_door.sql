-- Money at the door: what the academy sells and for how much (offers, in the academy's one currency), and a
-- review queue for every paid order that could not become access. A signed notification is only as good as
-- what it says: the payments function checks its amount and currency against the offer's price before it
-- grants anything, and a paid order it cannot grant is kept here for an admin, never refused after payment.

-- ---- The academy's currency and the ceiling on signed orders -----------------------------------------------

alter table analytics.settings
  add column currency text default 'KZT' not null,
  add column provider_orders_per_minute integer default 600 not null,
  add column repeat_purchase_restores_access boolean default false not null;
alter table analytics.settings add constraint settings_currency_iso_4217
  check (currency ~ '^[A-Z]{3}$');
alter table analytics.settings add constraint settings_provider_orders_per_minute_positive
  check (provider_orders_per_minute > 0);
comment on column analytics.settings.currency is 'The academy''s currency (ISO 4217): every price and every sale is in it, so no sum mixes two.';
comment on column analytics.settings.repeat_purchase_restores_access is 'A paid order from a refunded or suspended student''s e-mail: true, it is attached to her and her access comes back (audited as the provider''s reactivation); false, it waits in the review queue for an admin.';
comment on column analytics.settings.provider_orders_per_minute is 'Signed paid orders the academy admits a minute, all providers together: a safety ceiling for the database, not a manager''s limit. Beyond it a provider is told to retry later.';

-- ---- Offers ------------------------------------------------------------------------------------------------

create table private.offers (
  -- What a payment link and a provider's order name: lower-case letters, digits, '-' and '_'.
  id text not null,
  title text not null,
  -- In analytics.settings.currency.
  list_price numeric(12,2) not null,
  -- Sold while active; an inactive offer's orders go to review.
  active boolean default true not null,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint offers_pkey primary key (id),
  constraint offers_id_slug check (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  constraint offers_title_length check (char_length(title) between 1 and 200),
  constraint offers_list_price_positive check (list_price > 0)
);
comment on table private.offers is 'What the academy sells and its list price: an order is granted only when it paid the offer''s price of the moment';
revoke all on table private.offers from public, anon, authenticated, service_role;
grant insert, select, update on table private.offers to service_role;
create trigger offers_set_updated_at before update on private.offers
  for each row execute function private.set_updated_at();

create table private.offer_promotions (
  offer_id text not null references private.offers (id) on delete cascade,
  price numeric(12,2) not null,
  starts_at timestamp with time zone not null,
  ends_at timestamp with time zone not null,
  constraint offer_promotions_pkey primary key (offer_id, starts_at),
  constraint offer_promotions_price_positive check (price > 0),
  constraint offer_promotions_window check (ends_at > starts_at)
);
comment on table private.offer_promotions is 'A promotional price of an offer for a window [starts_at, ends_at); where windows overlap the lowest price holds';
revoke all on table private.offer_promotions from public, anon, authenticated, service_role;
grant delete, insert, select on table private.offer_promotions to service_role;

create function private.offer_price(offer_id text, at timestamp with time zone)
returns numeric
language sql
stable
set search_path = ''
as $$
  select coalesce(
    (select min(p.price) from private.offer_promotions p
     where p.offer_id = o.id and p.starts_at <= offer_price.at and offer_price.at < p.ends_at),
    o.list_price)
  from private.offers o
  where o.id = offer_price.offer_id and o.active
$$;
comment on function private.offer_price(text, timestamp with time zone) is 'The price an active offer sells for at an instant (its promotion then, else its list price); null for an unknown or inactive offer. An order is checked against it.';
revoke all on function private.offer_price(text, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function private.offer_price(text, timestamp with time zone) to service_role;

-- A new academy sells the course at 490 in its currency until an admin sets its price.
insert into private.offers (id, title, list_price) values ('tripwire', 'Tripwire', 490);

-- ---- The review queue --------------------------------------------------------------------------------------

create table private.payment_reviews (
  id bigint generated always as identity,
  provider text not null,
  -- 'order': a paid order that did not become access; 'refund': a provider's refund the books could not take.
  kind text not null,
  order_id text not null,
  refund_id text,
  -- Why it is here (the payments function's words; docs/architecture.md, "Orders in").
  reason text not null,
  amount numeric(12,2) not null,
  currency text,
  offer_id text,
  -- The manager a valid payment link credited, else the academy's default, when it was received. No foreign
  -- keys to users: a record of what came in, read by id, never joined from the person's side.
  manager_id uuid,
  -- The order as the provider sent it (payer e-mail, name, phone) and what did not match: for the admin only.
  details jsonb default '{}'::jsonb not null,
  created_at timestamp with time zone default now() not null,
  resolved_at timestamp with time zone,
  resolved_by uuid,
  resolution text,
  resolution_note text,
  -- The student it concerns: the one whose e-mail the order carries, or the one it became on resolution.
  student_id uuid references public.tripwire_users (user_id),
  constraint payment_reviews_pkey primary key (id),
  constraint payment_reviews_provider_known check (provider = any (array['standard', 'cloudpayments'])),
  constraint payment_reviews_kind_known check (kind = any (array['order', 'refund'])),
  constraint payment_reviews_refund_has_id check ((kind = 'refund') = (refund_id is not null)),
  constraint payment_reviews_reason_known check (reason = any (array[
    'price_mismatch', 'unknown_offer', 'staff_email', 'invalid_details', 'student_without_access',
    'unknown_order', 'refund_exceeds_payment'])),
  constraint payment_reviews_resolution_known check (resolution = any (array[
    'student_created', 'attached', 'refunded', 'dismissed'])),
  constraint payment_reviews_resolved_whole check ((resolved_at is null) = (resolution is null)),
  constraint payment_reviews_amount_non_negative check (amount >= 0),
  constraint payment_reviews_note_length check (char_length(resolution_note) <= 500)
);
-- One entry per order and per refund, so a provider's retry of a queued order finds it and adds nothing.
create unique index payment_reviews_order on private.payment_reviews (provider, order_id) where kind = 'order';
create unique index payment_reviews_refund on private.payment_reviews (provider, refund_id) where kind = 'refund';
create index payment_reviews_open on private.payment_reviews (id) where resolved_at is null;
create index payment_reviews_student on private.payment_reviews (student_id) where student_id is not null;
comment on table private.payment_reviews is 'Every paid order (and provider refund) that could not be granted as sent, kept for an admin to resolve: money taken is never refused';
revoke all on table private.payment_reviews from public, anon, authenticated, service_role;
grant insert, select, update on table private.payment_reviews to service_role;

-- A known student's repeat purchase is recorded against her: an order is either her first sale or attached.
alter table private.payment_orders add column attached boolean default false not null;
comment on column private.payment_orders.attached is 'True for a paid order attached to an existing student (a repeat purchase): her sale in the books is the first order''s.';

-- ---- The audit knows offers and reviews --------------------------------------------------------------------

alter table private.audit_log drop constraint audit_log_action_valid;
alter table private.audit_log add constraint audit_log_action_valid check (action = any (array[
  'student.created', 'student.refunded', 'student.suspended', 'student.reactivated', 'student.password_reset',
  'student.exported', 'student.erased', 'settings.changed', 'staff.changed', 'offer.changed',
  'payment.reviewed']));
alter table private.audit_log drop constraint audit_log_target_type_valid;
alter table private.audit_log add constraint audit_log_target_type_valid check (target_type = any (array[
  'student', 'settings', 'staff', 'offer', 'payment']));

-- ---- Crash-proof creations ---------------------------------------------------------------------------------
-- A retry after a crash adopts the login its interrupted attempt left (create_tripwire_user.ts), and the sweep
-- deletes what nobody adopts after 30 s instead of 5 min: no login is left without its student for long.

create or replace function private.housekeeping()
returns jsonb
language plpgsql
set search_path = ''
as $function$
declare
  expired_keys bigint;
  old_emails bigint;
  abandoned_logins bigint;
begin
  -- Stored answers to retried requests live 24 hours, with the sealed passwords they kept.
  delete from private.idempotency_keys where expires_at <= pg_catalog.now();
  get diagnostics expired_keys = row_count;
  -- A sent or failed e-mail's row (recipient, template, outcome) is kept 90 days for support questions.
  delete from private.email_outbox
  where status in ('sent', 'failed') and updated_at < pg_catalog.now() - interval '90 days';
  get diagnostics old_emails = row_count;
  -- A login noted 30 seconds ago whose student never came (a crash between the two) is deleted, then its
  -- note; a note whose student came is only forgotten. A creation writes its student only while its note is
  -- there (it locks the note first), so a slow one fails rather than leave a student without a login.
  with notes as (
    delete from private.pending_logins p
    where p.created_at < pg_catalog.now() - interval '30 seconds'
    returning p.user_id
  ),
  abandoned as (
    delete from auth.users a
    using notes n
    where a.id = n.user_id and not exists (select 1 from public.users u where u.id = n.user_id)
    returning a.id
  )
  select count(*) into abandoned_logins from abandoned;
  return pg_catalog.jsonb_build_object('expired_idempotency_keys', expired_keys, 'old_emails_purged', old_emails,
                                       'abandoned_logins_deleted', abandoned_logins);
end;
$function$;

comment on function private.housekeeping() is 'The scheduler''s housekeeping every minute: expired idempotency keys, e-mails past 90 days, and logins whose student never came 30 s after their note.';

-- ---- Every amount with its currency ------------------------------------------------------------------------

create function analytics.academy_currency()
returns text
language sql
stable
security definer
set search_path = ''
as $$
  select s.currency from analytics.settings s
$$;
comment on function analytics.academy_currency() is 'The academy''s currency (ISO 4217) for answers that show amounts, readable by a signed-in caller without the settings table.';
revoke all on function analytics.academy_currency() from public, anon, authenticated, service_role;
grant execute on function analytics.academy_currency() to authenticated, service_role;

-- ---- Erasure reaches the review queue ----------------------------------------------------------------------
-- A queued order of a known student (or one resolved into a student) names her: her erasure scrubs the payer's
-- name, e-mail and phone there too.

create or replace function private.erase_person(person uuid)
returns timestamp with time zone
language plpgsql
set search_path = ''
as $function$
declare
  tombstone_name constant text := 'Erased person';
  tombstone_email constant text := 'erased-' || person::text || '@erased.invalid';
  erased timestamptz;
begin
  update public.users
  set full_name = tombstone_name, email = tombstone_email, erased_at = coalesce(erased_at, pg_catalog.now())
  where id = person
  returning erased_at into erased;
  if erased is null then
    raise exception 'there is no person %', person using errcode = 'P0002';
  end if;
  update public.tripwire_users set full_name = tombstone_name, email = tombstone_email, phone = null
  where user_id = person;
  update public.certificates
  set full_name = tombstone_name, verification_code = pg_catalog.encode(extensions.gen_random_bytes(10), 'hex')
  where user_id = person;
  update public.sales_activity_log
  set details = details || pg_catalog.jsonb_build_object('student_name', tombstone_name)
    || case when details ? 'student_email' then pg_catalog.jsonb_build_object('student_email', tombstone_email)
            else '{}'::jsonb end
  where student_id = person;
  delete from private.email_outbox where user_id = person;
  delete from private.idempotency_keys where resource_id = person;
  -- The events about the person, with their deliveries and attempts (the CRM keeps what it received).
  delete from private.webhook_events where student_id = person;
  delete from private.stall_notices where student_id = person;
  -- Paid orders of the person kept for review: the payer's name, e-mail and phone as the provider sent them.
  update private.payment_reviews
  set details = (details - array['email', 'full_name', 'phone'])
    || pg_catalog.jsonb_build_object('email', tombstone_email, 'full_name', tombstone_name)
  where student_id = person;
  return erased;
end;
$function$;

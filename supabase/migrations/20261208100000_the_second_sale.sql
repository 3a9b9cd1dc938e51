-- The second sale (issue: the main course). The Main platform tells us, as signed Standard Webhooks, when a
-- person buys or refunds the academy's main course; each purchase is matched to the tripwire student (the
-- handoff token the upgrade link carried, else the e-mail) and credited to the manager who sold the tripwire.
-- An unmatched purchase is kept, with the buyer's e-mail, for an admin; nothing is dropped.

alter table academy.settings
  add column main_course_checkout_url text,
  add column main_course_offer_hours integer not null default 72,
  add column main_course_credits_tripwire boolean not null default true,
  add constraint settings_main_course_checkout_url_https
    check (main_course_checkout_url is null or main_course_checkout_url ~ '^https?://[^\s]+$'),
  add constraint settings_main_course_offer_hours_range
    check (main_course_offer_hours between 1 and 24 * 90);

comment on column academy.settings.main_course_checkout_url is
  'The main course''s checkout: a student who completed the course gets it with a personal handoff token (?handoff=…). Null: no upgrade link is offered.';
comment on column academy.settings.main_course_offer_hours is
  'How long after completing the course the upgrade offer holds (the handoff token''s offer deadline).';
comment on column academy.settings.main_course_credits_tripwire is
  'Whether the upgrade offer credits the tripwire''s price against the main course (said in the handoff token).';

create table private.main_course_purchases (
  purchase_id text primary key,
  student_id uuid references public.tripwire_users (user_id) on delete set null,
  manager_id uuid references public.users (id) on delete set null,
  matched_by text,
  amount numeric(12, 2) not null,
  currency text not null,
  buyer_email text,
  purchased_at timestamptz not null,
  received_at timestamptz not null default now(),
  refund_id text,
  refunded_at timestamptz,
  constraint main_course_purchases_purchase_id_length check (char_length(purchase_id) between 1 and 200),
  constraint main_course_purchases_amount_positive check (amount > 0),
  constraint main_course_purchases_currency_iso_4217 check (currency ~ '^[A-Z]{3}$'),
  constraint main_course_purchases_matched_by_known check (matched_by in ('handoff', 'email')),
  constraint main_course_purchases_matched_has_student
    check ((matched_by is null) = (student_id is null)),
  -- A matched purchase keeps no e-mail: the student's own row has it (and erasure reaches it there).
  constraint main_course_purchases_email_only_unmatched check (student_id is null or buyer_email is null),
  constraint main_course_purchases_refund_whole check ((refund_id is null) = (refunded_at is null))
);

comment on table private.main_course_purchases is
  'Each purchase of the main course the Main platform told us of (main_course.purchased), once per purchase id, with its amount and currency as they came; matched to a tripwire student and credited to the manager who sold the tripwire, or kept unmatched for an admin. A refund (main_course.refunded) takes the credit back.';
comment on column private.main_course_purchases.matched_by is
  'How the buyer was recognised: the handoff token of the upgrade link (signed by the project), or the e-mail of a tripwire student; null while unmatched.';
comment on column private.main_course_purchases.buyer_email is
  'The buyer''s e-mail, kept only while the purchase is unmatched (so an admin can find the person).';

create index main_course_purchases_student on private.main_course_purchases (student_id)
  where student_id is not null;
create index main_course_purchases_manager on private.main_course_purchases (manager_id, purchased_at)
  where manager_id is not null;
create index main_course_purchases_unmatched on private.main_course_purchases (received_at desc, purchase_id)
  where student_id is null;

revoke all on table private.main_course_purchases from public, anon, authenticated, service_role;
grant insert, select, update on table private.main_course_purchases to service_role;

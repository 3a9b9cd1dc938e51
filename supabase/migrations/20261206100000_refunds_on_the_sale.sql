-- The books add up whatever runs at once (issue: two refunds at once both passed). The refunded total lives
-- on the sale's own row, kept by a trigger on every refund, and a CHECK on that row makes
-- sum(refunds) <= payment impossible to break by any path: two refunds at once both update the same row,
-- so the second waits for the first, re-reads the row as committed and fails the CHECK if it no longer fits.
-- Refunds are facts of their day: appended, never changed or removed.

alter table public.tripwire_users add column if not exists refunded_amount numeric(12, 2) not null default 0;
comment on column public.tripwire_users.refunded_amount is
  'The sum of this sale''s refunds, kept by public.student_refunds'' trigger; never above payment_amount';
update public.tripwire_users t
set refunded_amount = r.total
from (select user_id, sum(amount) as total from public.student_refunds group by user_id) r
where r.user_id = t.user_id and t.refunded_amount <> r.total;
alter table public.tripwire_users drop constraint if exists tripwire_users_refunds_within_payment;
alter table public.tripwire_users add constraint tripwire_users_refunds_within_payment
  check (refunded_amount >= 0 and refunded_amount <= payment_amount);

create or replace function private.add_refund_to_sale() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- The UPDATE waits for any other refund of this sale and then sees its committed total.
  perform pg_catalog.set_config('tripwire.adding_refund', 'on', true);
  update public.tripwire_users set refunded_amount = refunded_amount + new.amount where user_id = new.user_id;
  if not found then
    raise exception 'no sale % to refund', new.user_id using errcode = '23503';
  end if;
  perform pg_catalog.set_config('tripwire.adding_refund', '', true);
  return new;
end;
$$;
revoke execute on function private.add_refund_to_sale() from public;

-- The total moves only with a refund row, so the two can never disagree.
create or replace function private.refunded_amount_kept_by_refunds() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if pg_catalog.current_setting('tripwire.adding_refund', true) is distinct from 'on' then
    raise exception 'refunded_amount changes only with a row in public.student_refunds' using errcode = '42501';
  end if;
  return new;
end;
$$;
revoke execute on function private.refunded_amount_kept_by_refunds() from public;

create or replace trigger tripwire_users_refunded_amount_kept
  before update of refunded_amount on public.tripwire_users
  for each row when (old.refunded_amount is distinct from new.refunded_amount)
  execute function private.refunded_amount_kept_by_refunds();

create or replace trigger student_refunds_add_to_sale
  before insert on public.student_refunds
  for each row execute function private.add_refund_to_sale();

create or replace function private.refuse_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception '% rows are append-only: % refused', tg_table_name, lower(tg_op) using errcode = '42501';
end;
$$;
revoke execute on function private.refuse_change() from public;

create or replace trigger student_refunds_append_only
  before update or delete on public.student_refunds
  for each row execute function private.refuse_change();
create or replace trigger student_refunds_no_truncate
  before truncate on public.student_refunds
  for each statement execute function private.refuse_change();
revoke update, delete, truncate on table public.student_refunds from service_role;

-- Whether a partial refund ends access too (a full refund always does). The academy's choice; by default a
-- student who got part of the money back keeps learning.
alter table analytics.settings add column if not exists partial_refund_ends_access boolean not null default false;

-- A full refund revokes the certificate: the public check then says "revoked" and when, never the name.
alter table public.certificates add column if not exists revoked_at timestamptz;
comment on column public.certificates.revoked_at is 'Set when the sale was refunded in full; the check answers revoked';

notify pgrst, 'reload schema';

-- Certificates verifiable, not enumerable: the numbers are sequential (TW-2026-000001, …002), so the public
-- check also needs a code of 80 random bits that only the student's link carries. Existing certificates
-- get one here.
alter table public.certificates add column if not exists verification_code text;
update public.certificates set verification_code = encode(extensions.gen_random_bytes(10), 'hex')
where verification_code is null;
alter table public.certificates alter column verification_code set default encode(extensions.gen_random_bytes(10), 'hex');
alter table public.certificates alter column verification_code set not null;
alter table public.certificates drop constraint if exists certificates_verification_code_format;
alter table public.certificates add constraint certificates_verification_code_format
  check (verification_code ~ '^[0-9a-f]{20}$');
comment on column public.certificates.verification_code is
  'Random (80 bits), in the public verification link beside the number; the check names nobody without it.';

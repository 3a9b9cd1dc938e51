-- What create-tripwire-user needs beyond the foundation: a generated password must survive, sealed,
-- until the manager's retry has been answered and the welcome e-mail has gone out. It is never
-- stored in plain text: the functions seal it with AES-256-GCM under a key from their environment
-- (SEALING_KEY or the project's secret keys), which the database never sees.

alter table private.idempotency_keys
  add column if not exists resource_id uuid,
  add column if not exists sealed_password text;
comment on column private.idempotency_keys.resource_id is
  'the auth user id generated for this request, so a takeover of an abandoned request can delete a half-made login';
comment on column private.idempotency_keys.sealed_password is
  'the generated password, AES-GCM sealed by the functions, for an identical replay; deleted with the key';

alter table private.email_outbox
  add column if not exists sealed_password text;
comment on column private.email_outbox.sealed_password is
  'the generated password, AES-GCM sealed by the functions, for a retried welcome e-mail; erased once sent or failed';

-- Only the sealed form fits ("v1.<iv>.<ciphertext>"), so a plain password cannot land here by mistake.
alter table private.idempotency_keys
  drop constraint if exists idempotency_keys_sealed_password_sealed;
alter table private.idempotency_keys
  add constraint idempotency_keys_sealed_password_sealed
  check (sealed_password ~ '^v1\.[A-Za-z0-9+/=]{16}\.[A-Za-z0-9+/=]{24,}$');

alter table private.email_outbox
  drop constraint if exists email_outbox_sealed_password_sealed;
alter table private.email_outbox
  add constraint email_outbox_sealed_password_sealed
  check (sealed_password ~ '^v1\.[A-Za-z0-9+/=]{16}\.[A-Za-z0-9+/=]{24,}$');

alter table private.email_outbox
  drop constraint if exists email_outbox_sealed_password_only_while_queued;
alter table private.email_outbox
  add constraint email_outbox_sealed_password_only_while_queued
  check (status = 'queued' or sealed_password is null);

notify pgrst, 'reload schema';

-- A forgotten password (issue 25): locally, `npm start`'s stand-in for Supabase Auth sends the recovery link
-- through the e-mail outbox, as the functions send theirs. Anyone with a login may ask, staff too, so an
-- e-mail belongs to a person (public.users), no longer only to a sale; the link travels sealed, like a
-- password, and is erased once sent.

alter table private.email_outbox drop constraint email_outbox_user_id_fkey;
alter table private.email_outbox add constraint email_outbox_user_id_fkey
  foreign key (user_id) references public.users (id) on delete cascade;

alter table private.email_outbox drop constraint email_outbox_template_valid;
alter table private.email_outbox add constraint email_outbox_template_valid
  check (template = any (array['welcome', 'password_reset', 'password_recovery']));

comment on column private.email_outbox.sealed_password is 'The secret the e-mail carries (a generated password, a recovery link), AES-GCM sealed by the functions for a retry; erased once sent or failed';

notify pgrst, 'reload schema';

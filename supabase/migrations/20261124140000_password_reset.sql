-- Lost passwords: a manager sets a new generated password, e-mailed through the same outbox as the
-- welcome e-mail, in the academy's language (a setting beside its time zone).

alter table analytics.settings add column if not exists language text not null default 'ru';
comment on column analytics.settings.language is 'The language of the e-mails to students: ru or en.';
alter table analytics.settings drop constraint if exists settings_language_known;
alter table analytics.settings add constraint settings_language_known check (language in ('ru', 'en'));

alter table private.email_outbox drop constraint if exists email_outbox_template_valid;
alter table private.email_outbox add constraint email_outbox_template_valid
  check (template in ('welcome', 'password_reset'));

alter table public.sales_activity_log drop constraint if exists sales_activity_log_event_type_valid;
alter table public.sales_activity_log add constraint sales_activity_log_event_type_valid
  check (event_type in ('user_created', 'lesson_completed', 'module_unlocked', 'certificate_issued',
                        'student_refunded', 'student_suspended', 'student_reactivated', 'password_reset'));

notify pgrst, 'reload schema';

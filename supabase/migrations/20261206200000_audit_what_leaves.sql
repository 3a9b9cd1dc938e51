-- Everything personal that leaves, and everything that decides where it goes, is audited (issue 36): the CSV
-- exports (every student's e-mail and phone) and webhook endpoints (registered, resumed, disabled, paused by
-- their failures, a delivery resent), which receive every student's data from then on.
alter table private.audit_log drop constraint audit_log_action_valid;
alter table private.audit_log add constraint audit_log_action_valid check (action = any (array[
  'student.created', 'student.refunded', 'student.suspended', 'student.reactivated', 'student.password_reset',
  'student.exported', 'student.erased', 'settings.changed', 'staff.changed', 'offer.changed',
  'payment.reviewed', 'export.downloaded', 'webhook.endpoint_created', 'webhook.endpoint_resumed',
  'webhook.endpoint_disabled', 'webhook.endpoint_paused', 'webhook.delivery_resent']));
alter table private.audit_log drop constraint audit_log_target_type_valid;
alter table private.audit_log add constraint audit_log_target_type_valid check (target_type = any (array[
  'student', 'settings', 'staff', 'offer', 'payment', 'export', 'webhook_endpoint']));

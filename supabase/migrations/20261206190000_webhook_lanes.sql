-- Each endpoint is served in a lane of its own (issue 36): a run claims an endpoint's due deliveries, not the
-- academy's, so one slow or failing CRM no longer holds back the others. The due index is per endpoint now.
create index webhook_deliveries_endpoint_due on private.webhook_deliveries (endpoint_id, next_attempt_at)
  where status = 'pending';
drop index private.webhook_deliveries_due;

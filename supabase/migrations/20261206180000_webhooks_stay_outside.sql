-- Webhook endpoints stay outside (issue 36): an endpoint could name a host inside the network the functions run
-- in, and each attempt's answer (up to 1,000 characters) was kept and shown to admins, an SSRF with read-back.
-- The functions now refuse such hosts when an endpoint is registered and again before every delivery; what an
-- endpoint answers is no longer kept: admins see each attempt's status, error and timing.
alter table private.webhook_attempts drop column response_body;

-- A user name or password in an endpoint's URL was accepted when the name was empty (http://:pw@host) and then
-- listed to every admin: taken out of the URL, and the endpoint disabled until an admin registers it again.
update private.webhook_endpoints
set url = regexp_replace(url, '^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@', '\1'),
    disabled_at = coalesce(disabled_at, now())
where url ~ '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@';

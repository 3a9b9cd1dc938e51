-- Defence in depth: the API roles read no table outside public. Every table in analytics was readable by
-- `authenticated` without row level security, so adding the schema to config.toml's [api] schemas would have
-- published every manager's revenue to every student. The RPCs stay the only door: the three that read the
-- analytics tables run as their owner (security definer) and check the caller's scope first, as before
-- (analytics.caller_scope reads the caller from the JWT claims, which do not change with the role).
revoke all on all tables in schema analytics from anon, authenticated;
alter default privileges in schema analytics revoke all on tables from anon, authenticated;

alter function public.get_sales_leaderboard(text, integer) security definer;
alter function public.get_sales_chart_data(date, date, uuid) security definer;
alter function public.get_manager_stats(uuid) security definer;
alter function analytics.refreshed_at() security definer;
-- Only the refresh (as its owner) computes daily facts.
revoke execute on function analytics.daily_net_facts(date, date) from authenticated;

notify pgrst, 'reload schema';

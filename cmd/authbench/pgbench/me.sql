-- Floor (b): an authenticated read. The tenant setting, the session's
-- liveness and the user row, pipelined: one round trip.
-- Variables (pgbench -D): nsessions, ntenants, nusers. Ids as seeded by authbench.
\set i random(0, :nsessions - 1)
\set t :i % :ntenants
\set k (:i / :ntenants) % :nusers
-- set_config, not SET LOCAL as the server sends (adapters/postgres/tx.go):
-- pgbench -M prepared prepares every command and SET cannot be prepared
-- or take a bind parameter, and the tenant is computed from :t here. A
-- floor on plain PostgreSQL, not product code: exempt from the set_config
-- rule (adapters/postgres/distribution_rules_test.go); it would not scope
-- the workers on Citus.
\startpipeline
SELECT set_config('app.account_id', md5('bench-t-' || :t::text)::uuid::text, true);
SELECT EXISTS (
    SELECT 1 FROM sessions
     WHERE account_id = md5('bench-t-' || :t::text)::uuid
       AND id = md5('bench-s-' || :i::text)::uuid
       AND session_live(revoked_at, idle_expires_at, absolute_expires_at, now()));
SELECT id, email, name, account_role, is_active, created_at, updated_at
  FROM users
 WHERE account_id = md5('bench-t-' || :t::text)::uuid
   AND id = md5('bench-u-' || :t::text || '-' || :k::text)::uuid;
\endpipeline

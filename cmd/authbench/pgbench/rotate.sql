-- Floor (a): the rotation write. The tenant setting and the UPDATE of one
-- session row by primary key, pipelined: one round trip, one commit.
-- Variables (pgbench -D): nsessions, ntenants. Ids as seeded by authbench.
\set i random(0, :nsessions - 1)
\set t :i % :ntenants
-- set_config, not SET LOCAL as the server sends (adapters/postgres/tx.go):
-- pgbench -M prepared prepares every command and SET cannot be prepared
-- or take a bind parameter, and the tenant is computed from :t here. A
-- floor on plain PostgreSQL, not product code: exempt from the set_config
-- rule (adapters/postgres/distribution_rules_test.go); it would not scope
-- the workers on Citus.
\startpipeline
SELECT set_config('app.account_id', md5('bench-t-' || :t::text)::uuid::text, true);
UPDATE sessions
   SET previous_jti_hash = current_jti_hash,
       current_jti_hash  = sha256(current_jti_hash),
       rotated_at        = now(),
       last_used_at      = now(),
       idle_expires_at   = now() + make_interval(secs => idle_seconds),
       generation        = generation + 1
 WHERE account_id = md5('bench-t-' || :t::text)::uuid
   AND id = md5('bench-s-' || :i::text)::uuid
RETURNING generation;
\endpipeline

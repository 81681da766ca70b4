-- Turns a database migrated by `sessiond migrate` into one distributed by
-- tenant on Citus (README "Scaling out on Citus").
--
-- Run once, as a superuser, on the coordinator, after the workers have been
-- added (citus_add_node) and every migration has been applied:
--
--   psql -v ON_ERROR_STOP=1 -d sessiond -f migrations/citus/distribute.sql
--
-- Not embedded in the binary and not a goose migration: plain PostgreSQL
-- (every test, every single-node deployment) never runs it. Existing rows
-- are copied into the shards by create_distributed_table. Migrations after
-- this point run on the coordinator; Citus propagates their DDL to the
-- shards. adapters/postgres/distribution_rules_test.go checks that every
-- table of the schema has its line here (or falls under the last block),
-- with the distribution column the rules expect.

\set ON_ERROR_STOP on

-- (3) accounts is distributed by its key, id; every tenant table by
-- account_id, co-located with accounts, so that a tenant's rows of every
-- table live on one worker: tenant queries are single-shard, the joins and
-- foreign keys on account_id stay local. (A reference table for accounts
-- does not work: the tables that reference it would have to become local
-- tables.) The referenced table goes first.
SELECT create_distributed_table('public.accounts', 'id');
SELECT create_distributed_table('public.users', 'account_id', colocate_with => 'public.accounts');
SELECT create_distributed_table('public.sessions', 'account_id', colocate_with => 'public.accounts');
SELECT create_distributed_table('public.password_reset_tokens', 'account_id', colocate_with => 'public.accounts');
SELECT create_distributed_table('public.email_verification_tokens', 'account_id', colocate_with => 'public.accounts');
SELECT create_distributed_table('public.invitations', 'account_id', colocate_with => 'public.accounts');
SELECT create_distributed_table('public.audit_events', 'account_id', colocate_with => 'public.accounts');
-- The webhook tables of migrations/00013, tenant tables like the others.
-- audit_events is partitioned by week (migrations/00013): distributing
-- the parent distributes every partition, and the partitions created
-- later by audit_partitions_maintain are distributed as they are created.
SELECT create_distributed_table('public.webhook_streams', 'account_id', colocate_with => 'public.accounts');
SELECT create_distributed_table('public.webhook_endpoints', 'account_id', colocate_with => 'public.accounts');
SELECT create_distributed_table('public.webhook_attempts', 'account_id', colocate_with => 'public.accounts');
-- The second-factor tables of migrations/00015.
SELECT create_distributed_table('public.auth_factors', 'account_id', colocate_with => 'public.accounts');
SELECT create_distributed_table('public.recovery_codes', 'account_id', colocate_with => 'public.accounts');
SELECT create_distributed_table('public.mfa_challenges', 'account_id', colocate_with => 'public.accounts');

-- (2) The global email key, distributed by the email: a sign-in's first
-- lookup is single-shard, and the key's uniqueness is enforced by one
-- shard. Not co-located with anything (no foreign key to or from it).
SELECT create_distributed_table('public.user_emails', 'email', colocate_with => 'none');

-- Tables that are neither tenant tables nor the two above, e.g. the
-- brute-force table of migration 00005 (keyed by a hash of the normalised
-- email, no account_id): each is distributed by its single-column primary
-- key, not co-located. A table that has account_id but no line above, or
-- has no single-column primary key, stops the script: its distribution
-- has to be decided and written here. goose_db_version stays a local table
-- of the coordinator, where migrations run.
DO $$
DECLARE
    r     record;
    v_col name;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS tbl,
               EXISTS (SELECT 1 FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attname = 'account_id' AND NOT a.attisdropped) AS has_tenant
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
          AND NOT c.relispartition -- distributed with their parent
          AND c.relname <> 'goose_db_version'
          AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = c.oid)
        ORDER BY c.relname
    LOOP
        IF r.has_tenant THEN
            RAISE EXCEPTION 'tenant table % has no line in distribute.sql (distribute it by account_id, co-located with accounts)', r.tbl;
        END IF;
        v_col := NULL;
        SELECT a.attname INTO v_col
        FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = r.tbl AND i.indisprimary AND i.indnkeyatts = 1;
        IF v_col IS NULL THEN
            RAISE EXCEPTION 'table % has no account_id and no single-column primary key: decide its distribution in distribute.sql', r.tbl;
        END IF;
        PERFORM create_distributed_table(r.tbl, v_col, colocate_with => 'none');
        RAISE NOTICE 'distributed % by its primary key %', r.tbl, v_col;
    END LOOP;
END
$$;

-- (1) The tenant setting reaches the workers: the server scopes every
-- tenant transaction with SET LOCAL app.account_id (never set_config,
-- which Citus does not propagate), and Citus forwards SET LOCAL to the
-- workers it opens for the transaction only with this setting. Set for the
-- runtime role, so that it holds on every connection the server opens.
ALTER ROLE sessiond_app SET citus.propagate_set_commands = 'local';

-- (4) Inside a SECURITY DEFINER function Citus opens its worker connections
-- as the function's owner, so every owner of one must be able to log in on
-- the workers: sessiond_definer (the pre-tenant lookups), sessiond_janitor
-- (the purge) and sessiond_throttler (the brute-force counter and its
-- purge). adapters/postgres/distribution_rules_test.go checks that this
-- list names every owner the migrations create, and the check at the end
-- of this script stops on one that cannot log in. Citus propagates ALTER
-- ROLE to every node, the coordinator included, so pg_hba.conf must do the
-- narrowing (README "Scaling out on Citus", worker authentication; the
-- rule of docs/security-checklist.md RLS-06 on Citus): workers accept these
-- roles only from the coordinator, over TLS, with scram-sha-256 or a
-- client certificate; the coordinator rejects them. Their credentials go
-- into pg_dist_authinfo (superuser-only), never into this file.
ALTER ROLE sessiond_definer LOGIN;
ALTER ROLE sessiond_janitor LOGIN;
ALTER ROLE sessiond_throttler LOGIN;
-- sessiond_archivist owns audit_events and runs its partition DDL
-- (audit_partitions_maintain, migrations/00013), which Citus propagates to
-- the workers under that role: the same lock-down applies.
ALTER ROLE sessiond_archivist LOGIN;

-- Grants and row-level security on the shards. create_distributed_table
-- carries the table's privileges and policies to its shards; restating the
-- runtime grants here propagates them again on Citus versions that do so
-- only for GRANTs issued after distribution. Then check every shard, and
-- stop if any lacks what the service needs.
GRANT SELECT, INSERT, UPDATE, DELETE ON accounts, users, sessions TO sessiond_app;
GRANT SELECT, INSERT ON audit_events TO sessiond_app;
GRANT UPDATE (delivery_seq) ON audit_events TO sessiond_app;
GRANT SELECT, INSERT, UPDATE ON webhook_streams TO sessiond_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO sessiond_app;
GRANT SELECT, INSERT ON webhook_attempts TO sessiond_app;
GRANT SELECT, INSERT, UPDATE ON password_reset_tokens TO sessiond_app;
GRANT SELECT, INSERT, UPDATE ON email_verification_tokens, invitations TO sessiond_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON auth_factors, recovery_codes TO sessiond_app;
GRANT SELECT, INSERT, UPDATE ON mfa_challenges TO sessiond_app;
GRANT SELECT, INSERT, DELETE ON user_emails TO sessiond_app;
GRANT SELECT (account_id, id, email, password_hash, is_active, account_role, email_verified_at) ON users TO sessiond_definer;
GRANT SELECT (account_id, id, revoked_at, idle_expires_at, absolute_expires_at) ON sessions TO sessiond_definer;
GRANT SELECT (account_id, token_hash) ON password_reset_tokens TO sessiond_definer;
GRANT SELECT (account_id, token_hash) ON email_verification_tokens, invitations TO sessiond_definer;
GRANT SELECT (account_id, token_hash) ON mfa_challenges TO sessiond_definer;
GRANT SELECT (email, account_id, user_id) ON user_emails TO sessiond_definer;
GRANT SELECT (account_id, id, absolute_expires_at), DELETE ON sessions TO sessiond_janitor;
GRANT SELECT (account_id, token_hash, expires_at, used_at), DELETE ON password_reset_tokens TO sessiond_janitor;
-- The purge of migrations/00016 (second-factor challenges, unverified
-- registrations): what the janitor reads, locks and deletes.
GRANT SELECT (account_id, id, expires_at, used_at), DELETE ON mfa_challenges TO sessiond_janitor;
GRANT SELECT (account_id, id, email, email_verified_at, created_at), UPDATE (email_verified_at) ON users TO sessiond_janitor;
GRANT SELECT (id), UPDATE (updated_at), DELETE ON accounts TO sessiond_janitor;
GRANT SELECT (email, account_id, user_id), DELETE ON user_emails TO sessiond_janitor;
GRANT SELECT (account_id, user_id, expires_at, used_at) ON email_verification_tokens TO sessiond_janitor;
GRANT SELECT (account_id, accepted_at, revoked_at, expires_at) ON invitations TO sessiond_janitor;

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT t.tbl, s.shardid, s.result
        FROM unnest(ARRAY['accounts', 'users', 'sessions', 'password_reset_tokens', 'audit_events', 'user_emails',
                          'webhook_streams', 'webhook_endpoints', 'webhook_attempts',
                          'email_verification_tokens', 'invitations',
                          'auth_factors', 'recovery_codes', 'mfa_challenges']) AS t(tbl),
        LATERAL run_command_on_shards(t.tbl::regclass, $cmd$
            SELECT CASE WHEN c.relrowsecurity AND c.relforcerowsecurity
                         AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation')
                         AND has_table_privilege('sessiond_app', c.oid, 'SELECT')
                        THEN 'ok' ELSE 'missing' END
            FROM pg_class c WHERE c.oid = '%s'::regclass
        $cmd$) AS s
        WHERE NOT s.success OR s.result IS DISTINCT FROM 'ok'
    LOOP
        RAISE EXCEPTION 'shard % of % lacks row-level security, the tenant policy or the runtime grant: %',
            r.shardid, r.tbl, r.result;
    END LOOP;
    FOR r IN
        SELECT t.tbl, s.shardid, s.result
        FROM (VALUES ('users', 'password_hash', 'sessiond_definer'),
                     ('user_emails', 'user_id', 'sessiond_definer'),
                     ('sessions', 'revoked_at', 'sessiond_definer'),
                     ('password_reset_tokens', 'token_hash', 'sessiond_definer'),
                     ('users', 'email_verified_at', 'sessiond_definer'),
                     ('email_verification_tokens', 'token_hash', 'sessiond_definer'),
                     ('invitations', 'token_hash', 'sessiond_definer'),
                     ('sessions', 'absolute_expires_at', 'sessiond_janitor'),
                     ('password_reset_tokens', 'used_at', 'sessiond_janitor'),
                     ('mfa_challenges', 'expires_at', 'sessiond_janitor'),
                     ('users', 'email_verified_at', 'sessiond_janitor'),
                     ('user_emails', 'user_id', 'sessiond_janitor'),
                     ('email_verification_tokens', 'expires_at', 'sessiond_janitor'),
                     ('invitations', 'accepted_at', 'sessiond_janitor')) AS t(tbl, col, rol),
        LATERAL run_command_on_shards(t.tbl::regclass, format($cmd$
            SELECT CASE WHEN has_column_privilege(%L, '%%s'::regclass, %L, 'SELECT') THEN 'ok' ELSE 'missing' END
        $cmd$, t.rol, t.col)) AS s
        WHERE NOT s.success OR s.result IS DISTINCT FROM 'ok'
    LOOP
        RAISE EXCEPTION 'shard % of % lacks a column grant of the definer or janitor role: %',
            r.shardid, r.tbl, r.result;
    END LOOP;
    -- (4) Every owner of a SECURITY DEFINER function can log in (on the
    -- workers; pg_hba.conf narrows where).
    FOR r IN
        SELECT p.oid::regprocedure AS fn, o.rolname
        FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        JOIN pg_roles o ON o.oid = p.proowner
        WHERE n.nspname = 'public' AND p.prosecdef AND NOT o.rolcanlogin
          AND NOT EXISTS (SELECT 1 FROM pg_depend d -- not Citus's own
                          WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        RAISE EXCEPTION 'role % owns SECURITY DEFINER function % but cannot log in: Citus connects to the workers as it (add its ALTER ROLE … LOGIN above)',
            r.rolname, r.fn;
    END LOOP;
END
$$;

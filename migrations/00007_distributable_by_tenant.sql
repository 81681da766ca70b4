-- +goose Up
-- Distributable by tenant (README, "Scaling out on Citus"): the schema can be distributed on
-- Citus by account_id (migrations/citus/distribute.sql) and still behaves
-- exactly as before on plain PostgreSQL. The rules this keeps are checked
-- by adapters/postgres/distribution_rules_test.go.
--
-- (2) A global unique key must contain the distribution column, so
--     users.email can no longer be unique across tenants by an index of
--     users. The email → user mapping moves to user_emails, keyed by the
--     email alone (distributed by email on Citus). The application writes
--     both rows in the same transaction (users first, then user_emails; a
--     duplicate email fails on user_emails_pkey with 23505 → 409
--     email_taken) and deletes both when a member is removed. No foreign key
--     links them: on Citus a key between a table distributed by email and
--     one distributed by account_id is not allowed. Emails never change
--     (there is no call that changes one); a future one must update both
--     rows in one transaction.
-- (4) Every SECURITY DEFINER function is PL/pgSQL: Citus cannot plan the
--     parameters of SQL-language functions. Same names, signatures, owners,
--     grants and search_path as before.
-- (5) The purge no longer locks FOR UPDATE SKIP LOCKED across tenants.

CREATE TABLE user_emails (
    -- Stored normalised (trimmed, lower-case), exactly as users.email.
    email      text NOT NULL PRIMARY KEY CHECK (email = lower(email)),
    account_id uuid NOT NULL,
    user_id    uuid NOT NULL
);

-- Backfill. users has FORCE ROW LEVEL SECURITY, which binds its owner (the
-- migrating role) too; lifted for this statement only, inside this
-- migration's transaction. A superuser is not bound by RLS either way.
ALTER TABLE users NO FORCE ROW LEVEL SECURITY;
INSERT INTO user_emails (email, account_id, user_id)
SELECT u.email, u.account_id, u.id FROM users u;
ALTER TABLE users FORCE ROW LEVEL SECURITY;

-- user_emails_pkey is now the one global key (SECURITY.md: RLS-05 does not
-- apply to the email, sign-in takes only an email).
DROP INDEX users_email_key;

-- SECURITY: tenant isolation, exactly as for the other tenant tables: the
-- runtime role reads, inserts and deletes only its tenant's rows.
ALTER TABLE user_emails ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_emails FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_emails FOR ALL
    USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
    WITH CHECK (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON user_emails TO sessiond_app;

-- SECURITY: the pre-tenant sign-in lookup reads the mapping, and nothing
-- else, through its own SELECT-only policy.
GRANT SELECT (email, account_id, user_id) ON user_emails TO sessiond_definer;
CREATE POLICY definer_lookup ON user_emails FOR SELECT TO sessiond_definer USING (true);

-- auth_user_for_login: email → (account_id, user_id) → the user's
-- credentials. Two single-shard lookups on Citus (user_emails by email,
-- users by account_id).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth_user_for_login(p_email text)
RETURNS TABLE (user_id uuid, account_id uuid, password_hash text, is_active boolean, account_role text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_account_id uuid;
    v_user_id    uuid;
BEGIN
    SELECT e.account_id, e.user_id INTO v_account_id, v_user_id
    FROM public.user_emails e
    WHERE e.email = p_email;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT u.id, u.account_id, u.password_hash, u.is_active, u.account_role
        FROM public.users u
        WHERE u.account_id = v_account_id AND u.id = v_user_id;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth_session_is_live(p_account_id uuid, p_session_id uuid, p_now timestamptz)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM public.sessions s
        WHERE s.account_id = p_account_id AND s.id = p_session_id
          AND s.revoked_at IS NULL
          AND s.absolute_expires_at > p_now
          AND s.idle_expires_at > p_now);
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth_password_reset_account(p_token_hash bytea)
RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT p.account_id FROM public.password_reset_tokens p WHERE p.token_hash = p_token_hash LIMIT 1);
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth_session_account(p_session_id uuid)
RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT s.account_id FROM public.sessions s WHERE s.id = p_session_id LIMIT 1);
END
$$;
-- +goose StatementEnd

-- maintenance_purge_expired (5): the same contract as migrations/00004
-- (the database's clock, a retention floor of one day, at most p_batch rows
-- of each kind, counts returned), batched without a cross-tenant FOR UPDATE
-- SKIP LOCKED, which Citus refuses across shards:
--   * one purge at a time per database: a transaction-level advisory lock,
--     taken first and held to the end of the batch's transaction. A second
--     instance waits for the running batch (short) and then takes its own,
--     so several instances purge in turns, never the same rows at once, and
--     cannot deadlock on each other's row locks. (Before, they split the
--     work with SKIP LOCKED; now they alternate. Each row is still removed
--     and counted exactly once.)
--   * each DELETE picks its batch in a subquery (WHERE (account_id, key) IN
--     (SELECT … LIMIT n)) and re-checks the expiry on the row it deletes. A
--     row locked by a request (a refresh attempt on an expired session, a
--     reset being confirmed) is waited for rather than skipped; under READ
--     COMMITTED the DELETE then re-reads it and deletes it only if it still
--     qualifies.
-- Each statement of this VOLATILE function takes a fresh snapshot, so the
-- batch after the lock sees what the previous holder deleted.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION maintenance_purge_expired(p_retention interval, p_batch integer)
RETURNS TABLE (purged_sessions bigint, purged_reset_tokens bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_cutoff   timestamptz := pg_catalog.now() - GREATEST(p_retention, interval '1 day');
    v_batch    integer := GREATEST(p_batch, 0);
    v_sessions bigint;
    v_tokens   bigint;
BEGIN
    -- The key is this function's name, hashed (fixed; advisory locks are
    -- per database).
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('sessiond.maintenance_purge_expired'));

    DELETE FROM public.sessions s
    WHERE (s.account_id, s.id) IN (
            SELECT x.account_id, x.id
            FROM public.sessions x
            WHERE x.absolute_expires_at < v_cutoff
            ORDER BY x.absolute_expires_at
            LIMIT v_batch)
      AND s.absolute_expires_at < v_cutoff;
    GET DIAGNOSTICS v_sessions = ROW_COUNT;

    DELETE FROM public.password_reset_tokens p
    WHERE (p.account_id, p.token_hash) IN (
            SELECT x.account_id, x.token_hash
            FROM public.password_reset_tokens x
            WHERE x.expires_at < pg_catalog.now() OR x.used_at < pg_catalog.now()
            LIMIT v_batch)
      AND (p.expires_at < pg_catalog.now() OR p.used_at < pg_catalog.now());
    GET DIAGNOSTICS v_tokens = ROW_COUNT;

    purged_sessions := v_sessions;
    purged_reset_tokens := v_tokens;
    RETURN NEXT;
END
$$;
-- +goose StatementEnd

-- The janitor no longer locks rows: the UPDATE privilege and the
-- WITH CHECK (false) UPDATE policies that let it SELECT … FOR UPDATE go.
DROP POLICY janitor_lock ON sessions;
DROP POLICY janitor_lock ON password_reset_tokens;
REVOKE UPDATE ON sessions, password_reset_tokens FROM sessiond_janitor;

-- Owners, grants and search_path as before (restated; CREATE OR REPLACE
-- keeps them).
ALTER FUNCTION auth_user_for_login(text) OWNER TO sessiond_definer;
ALTER FUNCTION auth_session_is_live(uuid, uuid, timestamptz) OWNER TO sessiond_definer;
ALTER FUNCTION auth_password_reset_account(bytea) OWNER TO sessiond_definer;
ALTER FUNCTION auth_session_account(uuid) OWNER TO sessiond_definer;
ALTER FUNCTION maintenance_purge_expired(interval, integer) OWNER TO sessiond_janitor;
REVOKE ALL ON FUNCTION auth_user_for_login(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_session_is_live(uuid, uuid, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_password_reset_account(bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_session_account(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION maintenance_purge_expired(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_user_for_login(text) TO sessiond_app;
GRANT EXECUTE ON FUNCTION auth_session_is_live(uuid, uuid, timestamptz) TO sessiond_app;
GRANT EXECUTE ON FUNCTION auth_password_reset_account(bytea) TO sessiond_app;
GRANT EXECUTE ON FUNCTION auth_session_account(uuid) TO sessiond_app;
GRANT EXECUTE ON FUNCTION maintenance_purge_expired(interval, integer) TO sessiond_app;

-- +goose Down
-- The SQL-language functions of 00001/00002/00004 and the global index on
-- users.email come back; user_emails goes.
GRANT UPDATE (revoked_at) ON sessions TO sessiond_janitor;
GRANT UPDATE (used_at) ON password_reset_tokens TO sessiond_janitor;
CREATE POLICY janitor_lock ON sessions FOR UPDATE TO sessiond_janitor USING (true) WITH CHECK (false);
CREATE POLICY janitor_lock ON password_reset_tokens FOR UPDATE TO sessiond_janitor USING (true) WITH CHECK (false);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION maintenance_purge_expired(p_retention interval, p_batch integer)
RETURNS TABLE (purged_sessions bigint, purged_reset_tokens bigint)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    WITH expired_sessions AS (
        SELECT s.account_id, s.id
        FROM public.sessions s
        WHERE s.absolute_expires_at < pg_catalog.now() - GREATEST(p_retention, interval '1 day')
        ORDER BY s.absolute_expires_at
        LIMIT GREATEST(p_batch, 0)
        FOR UPDATE SKIP LOCKED
    ), deleted_sessions AS (
        DELETE FROM public.sessions s
        USING expired_sessions e
        WHERE s.account_id = e.account_id AND s.id = e.id
        RETURNING 1
    ), spent_reset_tokens AS (
        SELECT p.account_id, p.token_hash
        FROM public.password_reset_tokens p
        WHERE p.expires_at < pg_catalog.now() OR p.used_at < pg_catalog.now()
        LIMIT GREATEST(p_batch, 0)
        FOR UPDATE SKIP LOCKED
    ), deleted_reset_tokens AS (
        DELETE FROM public.password_reset_tokens p
        USING spent_reset_tokens x
        WHERE p.account_id = x.account_id AND p.token_hash = x.token_hash
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM deleted_sessions),
           (SELECT count(*) FROM deleted_reset_tokens)
$$;
-- +goose StatementEnd

CREATE OR REPLACE FUNCTION auth_session_account(p_session_id uuid)
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.account_id FROM public.sessions s WHERE s.id = p_session_id LIMIT 1
$$;

CREATE OR REPLACE FUNCTION auth_password_reset_account(p_token_hash bytea)
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.account_id FROM public.password_reset_tokens p WHERE p.token_hash = p_token_hash LIMIT 1
$$;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth_session_is_live(p_account_id uuid, p_session_id uuid, p_now timestamptz)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1 FROM public.sessions s
        WHERE s.account_id = p_account_id AND s.id = p_session_id
          AND s.revoked_at IS NULL
          AND s.absolute_expires_at > p_now
          AND s.idle_expires_at > p_now)
$$;
-- +goose StatementEnd

CREATE OR REPLACE FUNCTION auth_user_for_login(p_email text)
RETURNS TABLE (user_id uuid, account_id uuid, password_hash text, is_active boolean, account_role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.id, u.account_id, u.password_hash, u.is_active, u.account_role
    FROM public.users u
    WHERE u.email = p_email
$$;

CREATE UNIQUE INDEX users_email_key ON users (email);
DROP TABLE IF EXISTS user_emails;

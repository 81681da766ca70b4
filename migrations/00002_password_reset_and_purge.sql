-- +goose Up
-- Password-reset tokens, the pre-tenant lookup that finds their tenant, and
-- the purge of expired rows run by the background cleanup job.

CREATE TABLE password_reset_tokens (
    account_id uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- SHA-256 of the token; the raw token exists only in the mail sent to
    -- the user. 256 random bits, so the hash is unique by randomness.
    token_hash bytea       NOT NULL,
    user_id    uuid        NOT NULL,
    expires_at timestamptz NOT NULL,
    -- Set when the token is consumed, or superseded by a password change or
    -- another token's use: a token with used_at is never accepted again.
    used_at    timestamptz,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, token_hash),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE,
    CHECK (expires_at > created_at)
);
CREATE INDEX password_reset_tokens_token_hash ON password_reset_tokens (token_hash);
CREATE INDEX password_reset_tokens_unused_by_user ON password_reset_tokens (account_id, user_id) WHERE used_at IS NULL;
CREATE INDEX password_reset_tokens_expires_at ON password_reset_tokens (expires_at);

-- SECURITY: tenant isolation, exactly as for the tables of 00001.
ALTER TABLE password_reset_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE password_reset_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON password_reset_tokens FOR ALL
    USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
    WITH CHECK (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid);

-- Tokens are never deleted by the runtime role (the purge does that).
GRANT SELECT, INSERT, UPDATE ON password_reset_tokens TO sessiond_app;

-- SECURITY: the narrow pre-tenant path for reset confirmation. The token is
-- all the caller has; this returns only the tenant it belongs to (or NULL),
-- and the consume happens in that tenant's transaction with the row locked.
GRANT SELECT (account_id, token_hash) ON password_reset_tokens TO sessiond_definer;
CREATE POLICY definer_lookup ON password_reset_tokens FOR SELECT TO sessiond_definer USING (true);

CREATE FUNCTION auth_password_reset_account(p_token_hash bytea)
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.account_id FROM public.password_reset_tokens p WHERE p.token_hash = p_token_hash LIMIT 1
$$;
ALTER FUNCTION auth_password_reset_account(bytea) OWNER TO sessiond_definer;
REVOKE ALL ON FUNCTION auth_password_reset_account(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_password_reset_account(bytea) TO sessiond_app;

-- The purge. Row-level security means the runtime role sees no rows without
-- a tenant, and iterating tenants would be one transaction per account. So
-- the purge is one narrow SECURITY DEFINER function owned by its own role,
-- sessiond_janitor (NOLOGIN, no BYPASSRLS), which may only read the columns
-- that decide expiry, lock and delete rows, through policies of its own.
-- It is a separate role from sessiond_definer so that the owner of the
-- lookup functions can still not delete anything. The function body is the
-- only code that ever runs as sessiond_janitor.
-- +goose StatementBegin
DO $$
BEGIN
    CREATE ROLE sessiond_janitor NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
-- +goose StatementEnd
GRANT USAGE ON SCHEMA public TO sessiond_janitor;

-- SELECT ... FOR UPDATE needs the UPDATE privilege and an UPDATE policy:
-- the janitor gets UPDATE on one column, with WITH CHECK (false) on its own
-- policy, so that it can lock the rows it is about to delete. It never
-- updates anything.
GRANT SELECT (account_id, id, absolute_expires_at), UPDATE (revoked_at), DELETE ON sessions TO sessiond_janitor;
GRANT SELECT (account_id, session_id), DELETE ON refresh_tokens TO sessiond_janitor;
GRANT SELECT (account_id, token_hash, expires_at, used_at), UPDATE (used_at), DELETE ON password_reset_tokens TO sessiond_janitor;
CREATE POLICY janitor_read ON sessions FOR SELECT TO sessiond_janitor USING (true);
CREATE POLICY janitor_lock ON sessions FOR UPDATE TO sessiond_janitor USING (true) WITH CHECK (false);
CREATE POLICY janitor_purge ON sessions FOR DELETE TO sessiond_janitor USING (true);
CREATE POLICY janitor_read ON refresh_tokens FOR SELECT TO sessiond_janitor USING (true);
CREATE POLICY janitor_purge ON refresh_tokens FOR DELETE TO sessiond_janitor USING (true);
CREATE POLICY janitor_read ON password_reset_tokens FOR SELECT TO sessiond_janitor USING (true);
CREATE POLICY janitor_lock ON password_reset_tokens FOR UPDATE TO sessiond_janitor USING (true) WITH CHECK (false);
CREATE POLICY janitor_purge ON password_reset_tokens FOR DELETE TO sessiond_janitor USING (true);

-- maintenance_purge_expired deletes one batch: at most p_batch sessions
-- whose absolute deadline is before p_cutoff (now minus the retention
-- period; such a session can never be refreshed again) with their refresh
-- tokens, and at most p_batch reset tokens that are used or expired at
-- p_now. Rows are picked with FOR UPDATE SKIP LOCKED, so several instances
-- purging at once split the work instead of waiting on each other, and a
-- row locked by a request (a refresh attempt, a reset being confirmed) is
-- left for the next run. Returns how many rows of each kind it deleted;
-- the caller repeats until a batch comes back short.
-- +goose StatementBegin
CREATE FUNCTION maintenance_purge_expired(p_cutoff timestamptz, p_now timestamptz, p_batch integer)
RETURNS TABLE (purged_sessions bigint, purged_refresh_tokens bigint, purged_reset_tokens bigint)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    WITH expired_sessions AS (
        SELECT s.account_id, s.id
        FROM public.sessions s
        WHERE s.absolute_expires_at < p_cutoff
        ORDER BY s.absolute_expires_at
        LIMIT p_batch
        FOR UPDATE SKIP LOCKED
    ), deleted_refresh_tokens AS (
        -- Deleted explicitly (rather than by the foreign key's cascade) so
        -- that they can be counted.
        DELETE FROM public.refresh_tokens rt
        USING expired_sessions e
        WHERE rt.account_id = e.account_id AND rt.session_id = e.id
        RETURNING 1
    ), deleted_sessions AS (
        DELETE FROM public.sessions s
        USING expired_sessions e
        WHERE s.account_id = e.account_id AND s.id = e.id
        RETURNING 1
    ), spent_reset_tokens AS (
        SELECT p.account_id, p.token_hash
        FROM public.password_reset_tokens p
        WHERE p.expires_at < p_now OR p.used_at < p_now
        LIMIT p_batch
        FOR UPDATE SKIP LOCKED
    ), deleted_reset_tokens AS (
        DELETE FROM public.password_reset_tokens p
        USING spent_reset_tokens x
        WHERE p.account_id = x.account_id AND p.token_hash = x.token_hash
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM deleted_sessions),
           (SELECT count(*) FROM deleted_refresh_tokens),
           (SELECT count(*) FROM deleted_reset_tokens)
$$;
-- +goose StatementEnd
ALTER FUNCTION maintenance_purge_expired(timestamptz, timestamptz, integer) OWNER TO sessiond_janitor;
REVOKE ALL ON FUNCTION maintenance_purge_expired(timestamptz, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION maintenance_purge_expired(timestamptz, timestamptz, integer) TO sessiond_app;

-- +goose Down
DROP FUNCTION IF EXISTS maintenance_purge_expired(timestamptz, timestamptz, integer);
DROP POLICY IF EXISTS janitor_read ON sessions;
DROP POLICY IF EXISTS janitor_lock ON sessions;
DROP POLICY IF EXISTS janitor_purge ON sessions;
DROP POLICY IF EXISTS janitor_read ON refresh_tokens;
DROP POLICY IF EXISTS janitor_purge ON refresh_tokens;
REVOKE ALL ON sessions, refresh_tokens FROM sessiond_janitor;
REVOKE USAGE ON SCHEMA public FROM sessiond_janitor;
DROP FUNCTION IF EXISTS auth_password_reset_account(bytea);
DROP TABLE IF EXISTS password_reset_tokens;

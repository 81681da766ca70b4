-- +goose Up
-- The session row is the whole refresh-token family (docs/session-rules.md §3): it holds the
-- hash of the current token's jti and of its immediate parent, which is all
-- that rotation, the grace window and reuse detection need (any other token
-- of the family, signed by us, is an older ancestor). The per-token
-- refresh_tokens table cost every rotation one INSERT (three index entries)
-- and one UPDATE in the same transaction; it goes.
--
-- HOT updates. A rotation rewrites current/previous jti hash, the sealed
-- successor, rotated_at, last_used_at, last_ip, last_user_agent, generation
-- and idle_expires_at. None of them is indexed (nor in an index predicate),
-- so the rotation's UPDATE is a heap-only-tuple update: no index entry is
-- written, the new version lands on the same page. Keep it so: do NOT index
-- last_used_at, idle_expires_at, rotated_at, generation or the jti hashes.
-- The indexes on sessions are the primary key (account_id, id), the live
-- sessions of a user (account_id, user_id) WHERE revoked_at IS NULL (revoked
-- once, never by a rotation), absolute_expires_at for the purge (never
-- changed by the fast path; the slow path writes the same value), and the
-- new sessions_id below (immutable). fillfactor 80 leaves room on each page
-- for the new row versions HOT needs.

DROP FUNCTION IF EXISTS auth_refresh_token_account(bytea);
DROP FUNCTION IF EXISTS maintenance_purge_expired(timestamptz, timestamptz, integer);
DROP TABLE refresh_tokens;

ALTER TABLE sessions SET (fillfactor = 80);

-- Legacy refresh tokens (issued before the tid claim) carry sid: the narrow
-- pre-tenant lookup finds their tenant by session id. A session id is
-- immutable, so this index never costs a rotation anything.
CREATE INDEX sessions_id ON sessions (id);

-- SECURITY: pre-tenant path for a signature-verified refresh token without a
-- tid claim. Returns only the tenant of the session (or NULL); everything
-- else happens in that tenant's transaction, where the token's hash must be
-- the session's current or previous one.
CREATE FUNCTION auth_session_account(p_session_id uuid)
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.account_id FROM public.sessions s WHERE s.id = p_session_id LIMIT 1
$$;
ALTER FUNCTION auth_session_account(uuid) OWNER TO sessiond_definer;
REVOKE ALL ON FUNCTION auth_session_account(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_session_account(uuid) TO sessiond_app;

-- maintenance_purge_expired: an earlier version of the
-- function took the caller's cutoff and "now", so the runtime role could
-- call it with ('infinity', 'infinity', n) and delete every tenant's live
-- sessions. Now the database's own clock decides, and the retention has a
-- floor of one day: whatever the caller passes, only sessions whose absolute
-- deadline passed more than a day (or the longer p_retention) ago, which can
-- never be refreshed again, and reset tokens already used or expired, are
-- deleted. The runtime role keeps EXECUTE (the background job runs in the
-- server), but can no longer make it delete anything live.
-- +goose StatementBegin
CREATE FUNCTION maintenance_purge_expired(p_retention interval, p_batch integer)
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
ALTER FUNCTION maintenance_purge_expired(interval, integer) OWNER TO sessiond_janitor;
REVOKE ALL ON FUNCTION maintenance_purge_expired(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION maintenance_purge_expired(interval, integer) TO sessiond_app;

-- +goose Down
DROP FUNCTION IF EXISTS maintenance_purge_expired(interval, integer);
DROP FUNCTION IF EXISTS auth_session_account(uuid);
DROP INDEX IF EXISTS sessions_id;
ALTER TABLE sessions RESET (fillfactor);
-- The per-token rows are not recreated: a rollback past this migration
-- needs migrations 00001/00002's refresh_tokens, auth_refresh_token_account
-- and maintenance_purge_expired(timestamptz, timestamptz, integer) restored
-- by hand (sessions rotate fine without their old rows).

-- +goose Up
-- The live-session condition (docs/session-rules.md), written once: every
-- query of queries/ that says "live" and the definer function
-- auth_session_is_live call session_live(revoked_at, idle_expires_at,
-- absolute_expires_at, now) instead of spelling it out.
--
-- A LIVE session is not revoked and both its deadlines are strictly after
-- now: a session is dead at its deadline (core's rule, core/refresh.go).
--
-- The function is a single SELECT expression in LANGUAGE sql, IMMUTABLE,
-- with no SET clause and not SECURITY DEFINER: the planner inlines it
-- before it matches indexes, so `revoked_at IS NULL` still matches the
-- partial index sessions_live_by_user and the plans stay those of the
-- written-out predicate (adapters/postgres/explain_test.go checks them).
-- It reads no table, so EXECUTE stays granted to PUBLIC (the default):
-- the runtime role and the definer roles call it.
--
-- On Citus the coordinator propagates CREATE FUNCTION to the workers
-- (migrations run after citus_add_node, migrations/citus/distribute.sql),
-- so a query that Citus sends to a shard as written finds it there.
-- +goose StatementBegin
CREATE FUNCTION public.session_live(p_revoked_at timestamptz, p_idle_expires_at timestamptz,
                                    p_absolute_expires_at timestamptz, p_now timestamptz)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT p_revoked_at IS NULL AND p_idle_expires_at > p_now AND p_absolute_expires_at > p_now
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
          AND public.session_live(s.revoked_at, s.idle_expires_at, s.absolute_expires_at, p_now));
END
$$;
-- +goose StatementEnd

-- +goose Down
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

DROP FUNCTION IF EXISTS public.session_live(timestamptz, timestamptz, timestamptz, timestamptz);

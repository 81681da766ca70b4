-- +goose Up
-- Brute-force defence (docs/session-rules.md §8): failed sign-ins and failed current-password
-- checks counted per email, in the database, so every instance shares one
-- count and a restart forgets nothing.
--
-- Not a tenant table: an email is global (it is how sign-in finds the
-- tenant), and unknown emails are counted too, so that a throttled unknown
-- address answers like a throttled known one. Rows are keyed by a SHA-256
-- digest of the normalised address (core.ThrottleKey): the table holds no
-- addresses. The runtime role has no privilege on it at all; it goes
-- through the three SECURITY DEFINER functions below, owned by their own
-- role.
CREATE TABLE login_throttle (
    key_hash        bytea       PRIMARY KEY CHECK (octet_length(key_hash) = 32),
    -- Failures since window_start; attempts refused while locked are not
    -- counted.
    failures        integer     NOT NULL CHECK (failures >= 0),
    -- First failure of the current streak, and the latest one: the streak
    -- is forgotten once a whole window passes without a failure.
    window_start    timestamptz NOT NULL,
    last_failure_at timestamptz NOT NULL,
    -- Sign-in for this email is refused until then (NULL: not locked).
    locked_until    timestamptz,
    -- After this the row says nothing any more (purge).
    expires_at      timestamptz NOT NULL
);
CREATE INDEX login_throttle_expires_at ON login_throttle (expires_at);

-- +goose StatementBegin
DO $$
BEGIN
    CREATE ROLE sessiond_throttler NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
-- +goose StatementEnd
GRANT USAGE ON SCHEMA public TO sessiond_throttler;
GRANT SELECT, INSERT, UPDATE, DELETE ON login_throttle TO sessiond_throttler;
REVOKE ALL ON login_throttle FROM PUBLIC;

-- The functions are PL/pgSQL rather than SQL-language so that a distributed
-- planner (Citus) never has to inline a parameterised SQL function.

-- auth_login_throttle_check reads one key: no row when the key has no
-- failures on record.
-- +goose StatementBegin
CREATE FUNCTION auth_login_throttle_check(p_key bytea)
RETURNS TABLE (failures integer, locked_until timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY SELECT t.failures, t.locked_until FROM public.login_throttle t WHERE t.key_hash = p_key;
END
$$;
-- +goose StatementEnd

-- auth_login_throttle_failure records one failure at p_now, atomically
-- (one INSERT ... ON CONFLICT, so concurrent failures on several instances
-- all count), and returns the new state:
--   * while locked (locked_until > p_now) nothing changes: an attempt during
--     the delay neither counts nor extends it;
--   * a streak with no failure for p_window starts again at 1;
--   * from the p_threshold-th failure on, each failure locks the key for
--     p_base doubled per failure past the threshold, at most p_max.
-- p_threshold < 1 is refused (the caller does not call when disabled).
-- +goose StatementBegin
CREATE FUNCTION auth_login_throttle_failure(p_key bytea, p_now timestamptz, p_threshold integer,
                                            p_base interval, p_max interval, p_window interval)
RETURNS TABLE (failures integer, locked_until timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_failures integer;
    v_locked   timestamptz;
BEGIN
    IF p_threshold IS NULL OR p_threshold < 1 THEN
        RAISE EXCEPTION 'login throttle threshold must be at least 1' USING ERRCODE = '22023';
    END IF;
    -- "fresh": no failure for a whole window, so the streak starts again.
    INSERT INTO public.login_throttle AS t
        (key_hash, failures, window_start, last_failure_at, locked_until, expires_at)
    VALUES (p_key, 1, p_now, p_now,
            CASE WHEN p_threshold <= 1 THEN p_now + least(p_max, p_base) END,
            greatest(p_now + p_window, CASE WHEN p_threshold <= 1 THEN p_now + least(p_max, p_base) END))
    ON CONFLICT (key_hash) DO UPDATE SET
        failures        = (CASE WHEN t.last_failure_at + p_window <= p_now THEN 1 ELSE t.failures + 1 END),
        window_start    = CASE WHEN t.last_failure_at + p_window <= p_now THEN p_now ELSE t.window_start END,
        last_failure_at = p_now,
        locked_until    = CASE WHEN (CASE WHEN t.last_failure_at + p_window <= p_now THEN 1 ELSE t.failures + 1 END) >= p_threshold
                               THEN p_now + least(p_max, p_base * power(2, least((CASE WHEN t.last_failure_at + p_window <= p_now THEN 1 ELSE t.failures + 1 END) - p_threshold, 30)))
                          END,
        expires_at      = greatest(p_now + p_window,
                          CASE WHEN (CASE WHEN t.last_failure_at + p_window <= p_now THEN 1 ELSE t.failures + 1 END) >= p_threshold
                               THEN p_now + least(p_max, p_base * power(2, least((CASE WHEN t.last_failure_at + p_window <= p_now THEN 1 ELSE t.failures + 1 END) - p_threshold, 30)))
                          END)
    -- Locked at p_now: the attempt neither counts nor extends the lock.
    WHERE t.locked_until IS NULL OR t.locked_until <= p_now
    RETURNING t.failures, t.locked_until INTO v_failures, v_locked;
    IF NOT FOUND THEN
        SELECT t.failures, t.locked_until INTO v_failures, v_locked
        FROM public.login_throttle t WHERE t.key_hash = p_key;
    END IF;
    failures := v_failures;
    locked_until := v_locked;
    RETURN NEXT;
END
$$;
-- +goose StatementEnd

-- auth_login_throttle_reset forgets a key after a success.
-- +goose StatementBegin
CREATE FUNCTION auth_login_throttle_reset(p_key bytea)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM public.login_throttle WHERE key_hash = p_key;
END
$$;
-- +goose StatementEnd

-- maintenance_purge_login_throttle deletes at most p_batch rows that say
-- nothing any more (expired at the database's own clock, never a caller's)
-- and returns how many. SKIP LOCKED: several instances split the work.
-- +goose StatementBegin
CREATE FUNCTION maintenance_purge_login_throttle(p_batch integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    WITH gone AS (
        DELETE FROM public.login_throttle t
        WHERE t.key_hash IN (
            SELECT x.key_hash FROM public.login_throttle x
            WHERE x.expires_at < now()
            ORDER BY x.expires_at
            LIMIT greatest(p_batch, 0)
            FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*) INTO n FROM gone;
    RETURN n;
END
$$;
-- +goose StatementEnd

ALTER FUNCTION auth_login_throttle_check(bytea) OWNER TO sessiond_throttler;
ALTER FUNCTION auth_login_throttle_failure(bytea, timestamptz, integer, interval, interval, interval) OWNER TO sessiond_throttler;
ALTER FUNCTION auth_login_throttle_reset(bytea) OWNER TO sessiond_throttler;
ALTER FUNCTION maintenance_purge_login_throttle(integer) OWNER TO sessiond_throttler;
REVOKE ALL ON FUNCTION auth_login_throttle_check(bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_login_throttle_failure(bytea, timestamptz, integer, interval, interval, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_login_throttle_reset(bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION maintenance_purge_login_throttle(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_login_throttle_check(bytea) TO sessiond_app;
GRANT EXECUTE ON FUNCTION auth_login_throttle_failure(bytea, timestamptz, integer, interval, interval, interval) TO sessiond_app;
GRANT EXECUTE ON FUNCTION auth_login_throttle_reset(bytea) TO sessiond_app;
GRANT EXECUTE ON FUNCTION maintenance_purge_login_throttle(integer) TO sessiond_app;

-- +goose Down
DROP FUNCTION IF EXISTS maintenance_purge_login_throttle(integer);
DROP FUNCTION IF EXISTS auth_login_throttle_reset(bytea);
DROP FUNCTION IF EXISTS auth_login_throttle_failure(bytea, timestamptz, integer, interval, interval, interval);
DROP FUNCTION IF EXISTS auth_login_throttle_check(bytea);
DROP TABLE IF EXISTS login_throttle;
REVOKE USAGE ON SCHEMA public FROM sessiond_throttler;

-- +goose Up
-- The brute-force counter on a database distributed by Citus (README
-- "Scaling out on Citus", rules (7) and (8)); plain PostgreSQL behaves as
-- before.
--
-- auth_login_throttle_failure (migrations/00005) counted with one INSERT …
-- ON CONFLICT DO UPDATE whose SET computed `last_failure_at + p_window`:
-- timestamptz + interval is STABLE, and Citus refuses any function that is
-- not IMMUTABLE in the DO UPDATE SET of a distributed table, so every
-- failed sign-in failed. Same contract now, computed in PL/pgSQL variables
-- and written with plain values: the key's row is read FOR UPDATE (one
-- shard: pinned by key_hash), so concurrent failures on several instances
-- still count one after the other; a key without a row is inserted with ON
-- CONFLICT DO NOTHING, and when a concurrent failure inserted it first the
-- loop reads that row and counts on it.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth_login_throttle_failure(p_key bytea, p_now timestamptz, p_threshold integer,
                                                       p_base interval, p_max interval, p_window interval)
RETURNS TABLE (failures integer, locked_until timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_failures     integer;
    v_window_start timestamptz;
    v_last_failure timestamptz;
    v_locked       timestamptz;
    v_expires      timestamptz;
BEGIN
    IF p_threshold IS NULL OR p_threshold < 1 THEN
        RAISE EXCEPTION 'login throttle threshold must be at least 1' USING ERRCODE = '22023';
    END IF;
    LOOP
        SELECT t.failures, t.window_start, t.last_failure_at, t.locked_until
          INTO v_failures, v_window_start, v_last_failure, v_locked
          FROM public.login_throttle t
         WHERE t.key_hash = p_key
           FOR UPDATE;
        IF FOUND THEN
            -- Locked at p_now: the attempt neither counts nor extends the
            -- lock; the state is answered as it is.
            EXIT WHEN v_locked IS NOT NULL AND v_locked > p_now;
            -- "fresh": no failure for a whole window, so the streak starts
            -- again.
            IF v_last_failure + p_window <= p_now THEN
                v_failures := 1;
                v_window_start := p_now;
            ELSE
                v_failures := v_failures + 1;
            END IF;
            v_locked := CASE WHEN v_failures >= p_threshold
                             THEN p_now + LEAST(p_max, p_base * power(2, LEAST(v_failures - p_threshold, 30))) END;
            v_expires := GREATEST(p_now + p_window, v_locked);
            UPDATE public.login_throttle t
               SET failures = v_failures, window_start = v_window_start, last_failure_at = p_now,
                   locked_until = v_locked, expires_at = v_expires
             WHERE t.key_hash = p_key;
            EXIT;
        END IF;
        v_failures := 1;
        v_locked := CASE WHEN p_threshold <= 1 THEN p_now + LEAST(p_max, p_base) END;
        v_expires := GREATEST(p_now + p_window, v_locked);
        INSERT INTO public.login_throttle (key_hash, failures, window_start, last_failure_at, locked_until, expires_at)
        VALUES (p_key, v_failures, p_now, p_now, v_locked, v_expires)
        ON CONFLICT (key_hash) DO NOTHING;
        EXIT WHEN FOUND;
        -- A concurrent failure inserted the key first: count on its row.
    END LOOP;
    failures := v_failures;
    locked_until := v_locked;
    RETURN NEXT;
END
$$;
-- +goose StatementEnd
ALTER FUNCTION auth_login_throttle_failure(bytea, timestamptz, integer, interval, interval, interval) OWNER TO sessiond_throttler;
REVOKE ALL ON FUNCTION auth_login_throttle_failure(bytea, timestamptz, integer, interval, interval, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_login_throttle_failure(bytea, timestamptz, integer, interval, interval, interval) TO sessiond_app;

-- On Citus a SECURITY DEFINER function opens its connections to the
-- workers as its owner, so sessiond_throttler (owner of the brute-force
-- functions) must be able to log in there, as migrations/citus/distribute.sql
-- grants it and the other definer owners (README "Scaling out on Citus",
-- worker authentication; docs/security-checklist.md, CIT-04). A database
-- distributed before this migration was distributed without it: every
-- sign-in answered 503 and the purge failed. On plain PostgreSQL (the
-- counter table is not distributed) nothing changes: the role stays
-- NOLOGIN.
-- +goose StatementBegin
DO $$
BEGIN
    -- The inner statement is planned only when reached, where
    -- pg_dist_partition (Citus's catalog) exists.
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = 'public.login_throttle'::regclass) THEN
            ALTER ROLE sessiond_throttler LOGIN;
        END IF;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- The counter as migrations/00005 wrote it. sessiond_throttler keeps LOGIN
-- where it has it: on Citus, distribute.sql grants it and the functions
-- need it.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth_login_throttle_failure(p_key bytea, p_now timestamptz, p_threshold integer,
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

-- +goose Up
-- maintenance_purge_login_throttle (migrations/00005) picked its batch with
-- a FOR UPDATE SKIP LOCKED over the whole table, which Citus refuses across
-- shards (migrations/00007, the distribution rules test). Same contract —
-- at most p_batch expired counters, judged by the database's own clock,
-- the count returned — batched as maintenance_purge_expired is since 00007:
-- a transaction-level advisory lock of its own makes several instances
-- purge in turns, and the DELETE re-checks expiry on every row it removes,
-- so a counter that a failed sign-in has just renewed is left alone.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION maintenance_purge_login_throttle(p_batch integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('sessiond.maintenance_purge_login_throttle'));
    DELETE FROM public.login_throttle t
    WHERE t.key_hash IN (
            SELECT x.key_hash FROM public.login_throttle x
            WHERE x.expires_at < pg_catalog.now()
            ORDER BY x.expires_at
            LIMIT GREATEST(p_batch, 0))
      AND t.expires_at < pg_catalog.now();
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
-- +goose StatementEnd
ALTER FUNCTION maintenance_purge_login_throttle(integer) OWNER TO sessiond_throttler;
REVOKE ALL ON FUNCTION maintenance_purge_login_throttle(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION maintenance_purge_login_throttle(integer) TO sessiond_app;

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION maintenance_purge_login_throttle(p_batch integer)
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

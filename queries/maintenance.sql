-- Housekeeping across tenants, through the SECURITY DEFINER purge (see
-- migrations/00004: the database's clock and a retention floor decide).

-- name: MaintenancePurgeExpired :one
SELECT f.purged_sessions::bigint AS sessions, f.purged_reset_tokens::bigint AS reset_tokens
FROM maintenance_purge_expired(@retention::interval, @batch_size::integer)
    AS f(purged_sessions, purged_reset_tokens);

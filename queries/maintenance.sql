-- Housekeeping across tenants, through the SECURITY DEFINER purge (see
-- migrations/00002).

-- name: MaintenancePurgeExpired :one
SELECT f.purged_sessions::bigint AS sessions, f.purged_refresh_tokens::bigint AS refresh_tokens,
       f.purged_reset_tokens::bigint AS reset_tokens
FROM maintenance_purge_expired(@cutoff::timestamptz, @now::timestamptz, @batch_size::integer)
    AS f(purged_sessions, purged_refresh_tokens, purged_reset_tokens);

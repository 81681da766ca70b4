-- Housekeeping across tenants, through the SECURITY DEFINER purges (see
-- migrations/00004 and 00016: the database's clock and a retention floor
-- decide).

-- name: MaintenancePurgeExpired :one
SELECT f.purged_sessions::bigint AS sessions, f.purged_reset_tokens::bigint AS reset_tokens,
       f.purged_mfa_challenges::bigint AS mfa_challenges
FROM maintenance_purge_expired(@retention::interval, @batch_size::integer)
    AS f(purged_sessions, purged_reset_tokens, purged_mfa_challenges);

-- name: MaintenancePurgeUnverifiedRegistrations :one
-- Only while EMAIL_VERIFICATION is required (Store.PurgeExpired's option).
SELECT maintenance_purge_unverified_registrations(@retention::interval, @batch_size::integer)::bigint AS purged;

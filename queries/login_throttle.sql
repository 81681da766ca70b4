-- The brute-force counter (docs/session-rules.md §8), through the SECURITY DEFINER functions
-- of migrations/00005. Not tenant-scoped: keyed by an email digest.

-- locked_until is the epoch when not locked (never in the future).

-- name: LoginThrottleCheck :many
SELECT f.failures::integer AS failures, coalesce(f.locked_until, 'epoch')::timestamptz AS locked_until
FROM auth_login_throttle_check(@key_hash::bytea) AS f(failures, locked_until);

-- name: LoginThrottleFailure :many
SELECT f.failures::integer AS failures, coalesce(f.locked_until, 'epoch')::timestamptz AS locked_until
FROM auth_login_throttle_failure(@key_hash::bytea, @now::timestamptz, @threshold::integer,
     make_interval(secs => @base_delay_seconds::float8), make_interval(secs => @max_delay_seconds::float8),
     make_interval(secs => @window_seconds::float8)) AS f(failures, locked_until);

-- name: LoginThrottleReset :exec
SELECT auth_login_throttle_reset(@key_hash::bytea);

-- name: MaintenancePurgeLoginThrottle :one
SELECT maintenance_purge_login_throttle(@batch_size::integer)::bigint AS purged;

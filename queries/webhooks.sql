-- Webhook endpoints, their event stream and delivery attempts
-- (migrations/00013). Every query pins account_id: single-shard on Citus.

-- name: WebhookEndpointCount :one
SELECT count(*) FROM webhook_endpoints WHERE account_id = @account_id;

-- name: WebhookStreamEnsure :one
-- Creates the account's stream, or locks the existing one (the upsert's
-- row lock, held to the end of the transaction); restart moves its start
-- to now.
INSERT INTO webhook_streams AS s (account_id, since)
VALUES (@account_id, @now)
ON CONFLICT (account_id) DO UPDATE
SET since = CASE WHEN @restart::boolean THEN greatest(s.since, EXCLUDED.since) ELSE s.since END
RETURNING s.last_seq;

-- name: WebhookEndpointCreate :exec
INSERT INTO webhook_endpoints (account_id, id, url, description, event_types, enabled, state,
    secret_sealed, delivered_seq, created_at, updated_at)
VALUES (@account_id, @id, @url, @description, @event_types, @enabled, @state,
    @secret_sealed, @delivered_seq, @now, @now);

-- name: WebhookEndpointList :many
SELECT * FROM webhook_endpoints
WHERE account_id = @account_id
ORDER BY created_at, id;

-- name: WebhookEndpointGet :one
SELECT * FROM webhook_endpoints
WHERE account_id = @account_id AND id = @id;

-- name: WebhookEndpointGetForUpdate :one
SELECT * FROM webhook_endpoints
WHERE account_id = @account_id AND id = @id
FOR UPDATE;

-- name: WebhookEndpointSave :execrows
UPDATE webhook_endpoints
SET url = @url, description = @description, event_types = @event_types, enabled = @enabled,
    state = @state, failure_reason = sqlc.narg(failure_reason), failing_since = sqlc.narg(failing_since),
    attempts = @attempts, first_failed_at = sqlc.narg(first_failed_at), retry_at = sqlc.narg(retry_at),
    secret_sealed = @secret_sealed, previous_secret_sealed = sqlc.narg(previous_secret_sealed),
    previous_secret_expires = sqlc.narg(previous_secret_expires), updated_at = @updated_at
WHERE account_id = @account_id AND id = @id;

-- name: WebhookEndpointDelete :execrows
DELETE FROM webhook_endpoints WHERE account_id = @account_id AND id = @id;

-- name: WebhookAttemptInsert :exec
INSERT INTO webhook_attempts (account_id, id, endpoint_id, event_id, event_type, sequence, attempted_at,
    outcome, status_code, latency_ms, error)
VALUES (@account_id, @id, @endpoint_id, @event_id, @event_type, sqlc.narg(sequence), @attempted_at,
    @outcome, sqlc.narg(status_code), @latency_ms, sqlc.narg(error));

-- name: WebhookAttemptList :many
-- One page of an endpoint's attempts, newest first, keyset on
-- (attempted_at, id) as the audit listing.
SELECT id, endpoint_id, event_id, event_type, sequence, attempted_at, outcome, status_code, latency_ms, error
FROM webhook_attempts
WHERE account_id = @account_id AND endpoint_id = @endpoint_id
  AND (sqlc.narg(before_at)::timestamptz IS NULL
       OR (attempted_at, id) < (sqlc.narg(before_at)::timestamptz, sqlc.narg(before_id)::uuid))
ORDER BY attempted_at DESC, id DESC
LIMIT @max_rows;

-- The delivery worker (adapters/audit through postgres.Outbox).

-- name: WebhookWork :many
-- Every account with webhook endpoints and whether it has work: the one
-- cross-tenant read, through the SECURITY DEFINER function.
SELECT w.account_id::uuid AS account_id, w.lease_free::boolean AS lease_free, w.due::boolean AS due,
       (w.oldest_pending IS NOT NULL)::boolean AS has_pending,
       coalesce(w.oldest_pending, @now::timestamptz)::timestamptz AS oldest_pending
FROM webhook_work(@now::timestamptz) AS w(account_id, lease_free, due, oldest_pending);

-- name: WebhookFailingEndpoints :one
SELECT webhook_failing_endpoints()::bigint AS failing;

-- name: WebhookStreamLease :one
-- Takes (or renews) the account's delivery lease: at most one instance
-- holds it at a time. No row when another instance holds it.
UPDATE webhook_streams
SET lease_owner = @owner::uuid, lease_until = @until::timestamptz
WHERE account_id = @account_id
  AND (lease_until IS NULL OR lease_until <= @now::timestamptz OR lease_owner = @owner::uuid)
RETURNING last_seq, since;

-- name: WebhookStreamRelease :exec
UPDATE webhook_streams SET lease_owner = NULL, lease_until = NULL
WHERE account_id = @account_id AND lease_owner = @owner::uuid;

-- name: WebhookStreamLock :one
SELECT last_seq, since FROM webhook_streams
WHERE account_id = @account_id
FOR UPDATE;

-- name: WebhookStreamSetLastSeq :exec
UPDATE webhook_streams SET last_seq = @last_seq WHERE account_id = @account_id;

-- name: AuditEventUnstamped :many
-- The account's committed events not stamped yet, oldest first.
SELECT id, created_at FROM audit_events
WHERE account_id = @account_id AND delivery_seq IS NULL AND created_at >= @since
ORDER BY delivery_seq, created_at, id
LIMIT @max_rows;

-- name: AuditEventStamp :execrows
UPDATE audit_events e
SET delivery_seq = x.seq
FROM (SELECT unnest(@ids::uuid[]) AS id, unnest(@created_ats::timestamptz[]) AS created_at,
             unnest(@seqs::bigint[]) AS seq) AS x
WHERE e.account_id = @account_id AND e.id = x.id AND e.created_at = x.created_at AND e.delivery_seq IS NULL;

-- name: WebhookEndpointsDue :many
-- The account's endpoints that deliver now.
SELECT * FROM webhook_endpoints
WHERE account_id = @account_id AND enabled AND state = 'active'
  AND (retry_at IS NULL OR retry_at <= @now::timestamptz)
ORDER BY id;

-- name: AuditEventAfterSeq :many
SELECT id, actor_user_id, action, resource_type, resource_id, details, ip_address, user_agent, created_at,
       delivery_seq::bigint AS delivery_seq
FROM audit_events
WHERE account_id = @account_id AND delivery_seq > @after_seq::bigint AND delivery_seq <= @upto_seq::bigint
ORDER BY delivery_seq
LIMIT @max_rows;

-- name: WebhookEndpointAdvance :execrows
-- The endpoint delivered (or skipped) everything up to seq: the cursor
-- moves, the retry state clears.
UPDATE webhook_endpoints
SET delivered_seq = @seq, attempts = 0, first_failed_at = NULL, retry_at = NULL, last_error = NULL
WHERE account_id = @account_id AND id = @id AND delivered_seq < @seq;

-- name: WebhookEndpointFailed :execrows
-- The head event failed: schedule its retry, or mark the endpoint failing.
UPDATE webhook_endpoints
SET delivered_seq = @new_seq, attempts = @attempts, first_failed_at = @first_failed_at, retry_at = sqlc.narg(retry_at),
    last_error = @last_error, state = @state, failure_reason = sqlc.narg(failure_reason),
    failing_since = sqlc.narg(failing_since)
WHERE account_id = @account_id AND id = @id AND delivered_seq = @delivered_seq AND state = 'active';

-- name: MaintenancePurgeWebhookAttempts :one
SELECT maintenance_purge_webhook_attempts(@retention::interval, @batch_size::integer)::bigint AS purged;

-- name: AuditPartitionsMaintain :many
SELECT p.partition_name::text AS partition_name, p.change::text AS change
FROM audit_partitions_maintain(@ahead_weeks::integer, @default_days::integer, @max_days::integer) AS p(partition_name, change);

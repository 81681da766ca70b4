-- name: AuditEventInsert :exec
INSERT INTO audit_events (account_id, id, actor_user_id, action, resource_type, resource_id, details, ip_address, user_agent, created_at)
VALUES (@account_id, @id, @actor_user_id, @action, @resource_type, @resource_id, @details, @ip_address, @user_agent, @created_at);

-- name: AuditEventList :many
-- One page of the account's audit trail, newest first. Keyset pagination on
-- (created_at, id): the id breaks ties between events of the same instant,
-- so pages neither skip nor repeat. Callers ask for one row more than the
-- page to learn whether another page follows. Every filter is optional
-- (NULL = any). The adapter plans this per call (custom plans,
-- adapters/postgres/audit.go), so each filter given is an index condition
-- of its own index (migrations/00012) and an absent one costs nothing.
-- subject_user_id is the user the event is about (migrations/00012,
-- core.TenantTx.AuditList). Every condition is leakproof (equality and
-- comparison of text, uuid, timestamptz), which row-level security requires
-- of an index condition.
-- not_before is the account's retention horizon: older events are not
-- shown (their week's partition is dropped later, migrations/00013), and
-- it prunes the older partitions.
SELECT id, actor_user_id, action, resource_type, resource_id, details, ip_address, user_agent, created_at
FROM audit_events
WHERE account_id = @account_id
  AND created_at >= @not_before
  AND (sqlc.narg(action)::text IS NULL OR action = sqlc.narg(action)::text)
  AND (sqlc.narg(actions)::text[] IS NULL OR action = ANY (sqlc.narg(actions)::text[]))
  AND (sqlc.narg(actor_user_id)::uuid IS NULL OR actor_user_id = sqlc.narg(actor_user_id)::uuid)
  AND (sqlc.narg(subject_user_id)::text IS NULL OR subject_user_id = sqlc.narg(subject_user_id)::text)
  AND (sqlc.narg(session_id)::text IS NULL
       OR (resource_type = 'session' AND resource_id = sqlc.narg(session_id)::text))
  AND (sqlc.narg(since)::timestamptz IS NULL OR created_at >= sqlc.narg(since)::timestamptz)
  AND (sqlc.narg(until)::timestamptz IS NULL OR created_at < sqlc.narg(until)::timestamptz)
  AND (sqlc.narg(before_created_at)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(before_created_at)::timestamptz, sqlc.narg(before_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT @max_rows;

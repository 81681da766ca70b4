-- name: AuditEventInsert :exec
INSERT INTO audit_events (account_id, id, actor_user_id, action, resource_type, resource_id, details, ip_address, user_agent, created_at)
VALUES (@account_id, @id, @actor_user_id, @action, @resource_type, @resource_id, @details, @ip_address, @user_agent, @created_at);

-- name: AuditEventList :many
-- One page of the account's audit trail, newest first. Keyset pagination on
-- (created_at, id): the id breaks ties between events of the same instant,
-- so pages neither skip nor repeat. Callers ask for one row more than the
-- page to learn whether another page follows.
SELECT id, actor_user_id, action, resource_type, resource_id, details, ip_address, user_agent, created_at
FROM audit_events
WHERE account_id = @account_id
  AND (sqlc.narg(action)::text IS NULL OR action = sqlc.narg(action)::text)
  AND (sqlc.narg(before_created_at)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(before_created_at)::timestamptz, sqlc.narg(before_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT @max_rows;

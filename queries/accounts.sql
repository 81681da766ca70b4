-- name: AccountCreate :exec
INSERT INTO accounts (id, name, created_at, updated_at)
VALUES (@id, @name, @now, @now);

-- name: AccountGetPolicy :one
SELECT session_idle_minutes, session_absolute_minutes
FROM accounts
WHERE id = @id;

-- name: UserCreate :exec
INSERT INTO users (account_id, id, email, name, password_hash, account_role, is_active, created_at, updated_at)
VALUES (@account_id, @id, @email, @name, @password_hash, @account_role, true, @now, @now);

-- name: UserGetByID :one
SELECT account_id, id, email, name, account_role, is_active, created_at
FROM users
WHERE account_id = @account_id AND id = @id;

-- name: UserUpdatePasswordHash :exec
UPDATE users SET password_hash = @password_hash, updated_at = @now
WHERE account_id = @account_id AND id = @id;

-- name: UserGetAccess :one
-- The user's current role and active flag: what an access token claimed may
-- have changed since it was issued.
SELECT account_role, is_active
FROM users
WHERE account_id = @account_id AND id = @id;

-- name: UserListByAccount :many
SELECT account_id, id, email, name, account_role, is_active, created_at
FROM users
WHERE account_id = @account_id
ORDER BY created_at, id;

-- name: UserLockCredentials :one
-- Locks the user row for a password change, so that two concurrent changes
-- are serialised and each verifies the hash the other left.
SELECT password_hash, is_active
FROM users
WHERE account_id = @account_id AND id = @id
FOR UPDATE;

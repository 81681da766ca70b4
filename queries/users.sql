-- name: UserCreate :exec
-- Sent pipelined with UserEmailCreate, in the same transaction (tenantTx.UserCreate).
INSERT INTO users (account_id, id, email, name, password_hash, account_role, is_active, created_at, updated_at, email_verified_at)
VALUES (@account_id, @id, @email, @name, @password_hash, @account_role, true, @now, @now, sqlc.narg(email_verified_at)::timestamptz);

-- name: UserEmailCreate :exec
-- The global email key (migrations/00007): a duplicate email, of any
-- tenant, fails here with 23505 on user_emails_pkey.
INSERT INTO user_emails (email, account_id, user_id)
VALUES (@email, @account_id, @user_id);

-- name: UserEmailDelete :execrows
-- Frees a removed user's email, in the same transaction as UserDelete. By
-- the email (the key, one shard on Citus) and the owner, so it can only
-- ever remove that user's own row.
DELETE FROM user_emails
WHERE email = @email AND account_id = @account_id AND user_id = @user_id;

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

-- name: UserListByCreated :many
-- One page of the account's members (GET /accounts/me/members), one query
-- per order because the order is the index walked: users_by_created or
-- users_by_name (migrations/00012), keyset on (key, id) so that pages
-- neither skip nor repeat. Every filter is optional (NULL = any); the
-- email prefix is the byte range [email_from, email_to) of text_pattern_ops
-- (users_by_email), not LIKE, which is not leakproof and so, under
-- row-level security, never an index condition. The adapter plans these per call (custom
-- plans, adapters/postgres/audit.go), so an absent filter costs nothing.
SELECT account_id, id, email, name, account_role, is_active, created_at
FROM users
WHERE account_id = @account_id
  AND (sqlc.narg(role)::text IS NULL OR account_role = sqlc.narg(role)::text)
  AND (sqlc.narg(active)::boolean IS NULL OR is_active = sqlc.narg(active)::boolean)
  AND (sqlc.narg(email_from)::text IS NULL
       OR (email ~>=~ sqlc.narg(email_from)::text AND email ~<~ sqlc.narg(email_to)::text))
  AND (sqlc.narg(after_created_at)::timestamptz IS NULL
       OR (created_at, id) > (sqlc.narg(after_created_at)::timestamptz, sqlc.narg(after_id)::uuid))
ORDER BY created_at, id
LIMIT @max_rows;

-- name: UserListByCreatedDesc :many
SELECT account_id, id, email, name, account_role, is_active, created_at
FROM users
WHERE account_id = @account_id
  AND (sqlc.narg(role)::text IS NULL OR account_role = sqlc.narg(role)::text)
  AND (sqlc.narg(active)::boolean IS NULL OR is_active = sqlc.narg(active)::boolean)
  AND (sqlc.narg(email_from)::text IS NULL
       OR (email ~>=~ sqlc.narg(email_from)::text AND email ~<~ sqlc.narg(email_to)::text))
  AND (sqlc.narg(after_created_at)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(after_created_at)::timestamptz, sqlc.narg(after_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT @max_rows;

-- name: UserListByName :many
SELECT account_id, id, email, name, account_role, is_active, created_at
FROM users
WHERE account_id = @account_id
  AND (sqlc.narg(role)::text IS NULL OR account_role = sqlc.narg(role)::text)
  AND (sqlc.narg(active)::boolean IS NULL OR is_active = sqlc.narg(active)::boolean)
  AND (sqlc.narg(email_from)::text IS NULL
       OR (email ~>=~ sqlc.narg(email_from)::text AND email ~<~ sqlc.narg(email_to)::text))
  AND (sqlc.narg(after_name)::text IS NULL
       OR (name, id) > (sqlc.narg(after_name)::text, sqlc.narg(after_id)::uuid))
ORDER BY name, id
LIMIT @max_rows;

-- name: UserListByNameDesc :many
SELECT account_id, id, email, name, account_role, is_active, created_at
FROM users
WHERE account_id = @account_id
  AND (sqlc.narg(role)::text IS NULL OR account_role = sqlc.narg(role)::text)
  AND (sqlc.narg(active)::boolean IS NULL OR is_active = sqlc.narg(active)::boolean)
  AND (sqlc.narg(email_from)::text IS NULL
       OR (email ~>=~ sqlc.narg(email_from)::text AND email ~<~ sqlc.narg(email_to)::text))
  AND (sqlc.narg(after_name)::text IS NULL
       OR (name, id) < (sqlc.narg(after_name)::text, sqlc.narg(after_id)::uuid))
ORDER BY name DESC, id DESC
LIMIT @max_rows;

-- name: UserLockCredentials :one
-- Locks the user row for a password change, so that two concurrent changes
-- are serialised and each verifies the hash the other left.
SELECT password_hash, is_active
FROM users
WHERE account_id = @account_id AND id = @id
FOR UPDATE;

-- name: UserLockActiveOwners :many
-- Locks the account's active owners, in id order (one lock order for
-- every caller, so two member changes cannot deadlock), until the
-- transaction ends. Every change that could remove an active owner (demote,
-- deactivate, remove) takes these locks first and then counts: two such
-- changes serialise here, and the second re-reads the rows the first
-- changed (READ COMMITTED re-checks a locked row's newest version against
-- the WHERE clause), so it sees one owner fewer. FOR NO KEY UPDATE: it
-- does not block sign-ins, whose session INSERT only takes KEY SHARE on
-- the user row.
SELECT id
FROM users
WHERE account_id = @account_id AND account_role = 'owner' AND is_active
ORDER BY id
FOR NO KEY UPDATE;

-- name: UserLockForUpdate :one
-- Locks one user's row for a membership change and returns it as it is.
SELECT account_id, id, email, name, account_role, is_active, created_at
FROM users
WHERE account_id = @account_id AND id = @id
FOR NO KEY UPDATE;

-- name: UserUpdate :execrows
-- A member change (role, active flag, name) or the user's own profile
-- change, on a row the caller has locked.
UPDATE users SET account_role = @account_role, is_active = @is_active, name = @name, updated_at = @now
WHERE account_id = @account_id AND id = @id;

-- name: UserDelete :one
-- Removes a user and returns their email (for UserEmailDelete, in the same
-- transaction). Their sessions and password-reset tokens go with the row
-- (ON DELETE CASCADE); audit events keep the id (no foreign key), so the
-- trail still says who did what.
DELETE FROM users WHERE account_id = @account_id AND id = @id
RETURNING email;

-- name: UserLockForSignIn :one
-- Locks the user's row inside the sign-in transaction: concurrent sign-ins
-- of one user serialise here (the session limit counts under this lock),
-- and a deactivation or removal that committed after the pre-tenant lookup
-- is seen (no row, or is_active false). FOR NO KEY UPDATE conflicts with
-- itself and with the membership changes above, not with the KEY SHARE
-- that other sessions' inserts take.
SELECT is_active
FROM users
WHERE account_id = @account_id AND id = @id
FOR NO KEY UPDATE;

-- name: UserLockEmailVerified :one
-- Locks the user's row (a verification or a reclaim of an unverified
-- registration) and returns when their email was verified (NULL: not yet).
SELECT email, email_verified_at, created_at
FROM users
WHERE account_id = @account_id AND id = @id
FOR UPDATE;

-- name: UserSetEmailVerified :exec
UPDATE users SET email_verified_at = @now::timestamptz, updated_at = @now::timestamptz
WHERE account_id = @account_id AND id = @id AND email_verified_at IS NULL;

-- name: AccountCreate :exec
INSERT INTO accounts (id, name, created_at, updated_at)
VALUES (@id, @name, @now, @now);

-- name: AccountGetPolicy :one
SELECT session_idle_minutes, session_absolute_minutes, max_sessions_per_user, session_limit_action, audit_retention_days,
       mfa_required, reauth_max_age_minutes
FROM accounts
WHERE id = @id;

-- name: AccountGetPolicyForUpdate :one
-- Locks the account row for a policy change, so concurrent changes apply
-- one after the other, each validated against the state it replaces.
SELECT session_idle_minutes, session_absolute_minutes, max_sessions_per_user, session_limit_action, audit_retention_days,
       mfa_required, reauth_max_age_minutes
FROM accounts
WHERE id = @id
FOR UPDATE;

-- name: AccountUpdatePolicy :execrows
-- Writes the whole policy at once (NULL = system default, or no session
-- limit); the accounts_idle_le_absolute CHECK backs the both-set case of the
-- invariant.
UPDATE accounts
SET session_idle_minutes = sqlc.narg(idle_minutes)::integer,
    session_absolute_minutes = sqlc.narg(absolute_minutes)::integer,
    max_sessions_per_user = sqlc.narg(max_sessions_per_user)::integer,
    session_limit_action = @session_limit_action::text,
    audit_retention_days = sqlc.narg(audit_retention_days)::integer,
    mfa_required = sqlc.narg(mfa_required)::text,
    reauth_max_age_minutes = sqlc.narg(reauth_max_age_minutes)::integer,
    updated_at = @now
WHERE id = @id;

-- name: AccountDelete :execrows
-- Removes an account whose only user was an unverified registration that a
-- new registration of the same email reclaims (core.Register). Its rows go
-- with it by the foreign keys' cascades; the user's email key is deleted
-- first (UserEmailDelete), having no foreign key. An account that still
-- has a user is not deleted (no row: the caller refuses): an unverified
-- registration is reclaimed only while it is its account's only user.
DELETE FROM accounts a WHERE a.id = @account_id
  AND NOT EXISTS (SELECT 1 FROM users u WHERE u.account_id = @account_id);

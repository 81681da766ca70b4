-- name: AccountCreate :exec
INSERT INTO accounts (id, name, created_at, updated_at)
VALUES (@id, @name, @now, @now);

-- name: AccountGetPolicy :one
SELECT session_idle_minutes, session_absolute_minutes, max_sessions_per_user, session_limit_action,
       mfa_required, reauth_max_age_minutes
FROM accounts
WHERE id = @id;

-- name: AccountGetPolicyForUpdate :one
-- Locks the account row for a policy change, so concurrent changes apply
-- one after the other, each validated against the state it replaces.
SELECT session_idle_minutes, session_absolute_minutes, max_sessions_per_user, session_limit_action,
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
    mfa_required = sqlc.narg(mfa_required)::text,
    reauth_max_age_minutes = sqlc.narg(reauth_max_age_minutes)::integer,
    updated_at = @now
WHERE id = @id;

-- Second factor (migrations/00015): factors, recovery codes, sign-in
-- challenges and the session's authentication state, all in a tenant
-- transaction.

-- name: FactorGetByUser :one
SELECT id, user_id, kind, secret_sealed, confirmed_at, last_used_step, created_at
FROM auth_factors
WHERE account_id = @account_id AND user_id = @user_id AND kind = 'totp';

-- name: FactorLockByUser :one
-- Locks the user's TOTP factor: two codes checked at once are judged one
-- after the other, so a code's step is accepted once.
SELECT id, user_id, kind, secret_sealed, confirmed_at, last_used_step, created_at
FROM auth_factors
WHERE account_id = @account_id AND user_id = @user_id AND kind = 'totp'
FOR UPDATE;

-- name: FactorCreate :exec
INSERT INTO auth_factors (account_id, id, user_id, kind, secret_sealed, created_at)
VALUES (@account_id, @id, @user_id, 'totp', @secret_sealed, @created_at);

-- name: FactorDeleteByUser :execrows
DELETE FROM auth_factors WHERE account_id = @account_id AND user_id = @user_id;

-- name: FactorMarkUsed :execrows
-- Records the step of an accepted code (and confirms a pending factor).
UPDATE auth_factors
SET last_used_step = @step::bigint,
    confirmed_at = coalesce(confirmed_at, @now::timestamptz)
WHERE account_id = @account_id AND id = @id;

-- name: RecoveryCodesDeleteByUser :execrows
DELETE FROM recovery_codes WHERE account_id = @account_id AND user_id = @user_id;

-- name: RecoveryCodeCreate :exec
INSERT INTO recovery_codes (account_id, user_id, code_hash, created_at)
VALUES (@account_id, @user_id, @code_hash, @created_at);

-- name: RecoveryCodeUse :execrows
-- Spends one unused code: a second use matches no row.
UPDATE recovery_codes SET used_at = @now::timestamptz
WHERE account_id = @account_id AND user_id = @user_id AND code_hash = @code_hash AND used_at IS NULL;

-- name: RecoveryCodesRemaining :one
SELECT count(*)::integer AS remaining FROM recovery_codes
WHERE account_id = @account_id AND user_id = @user_id AND used_at IS NULL;

-- name: MFAChallengeCreate :exec
INSERT INTO mfa_challenges (account_id, id, user_id, token_hash, expires_at, ip_address, user_agent, created_at)
VALUES (@account_id, @id, @user_id, @token_hash, @expires_at, @ip_address, @user_agent, @created_at);

-- name: MFAChallengeLock :one
-- Locks one challenge for its answer: two answers to it are judged one
-- after the other, so it is used at most once.
SELECT id, user_id, expires_at, used_at, attempts
FROM mfa_challenges
WHERE account_id = @account_id AND token_hash = @token_hash
FOR UPDATE;

-- name: MFAChallengeLockForAnswer :one
-- The answer to a sign-in challenge in one round trip: the challenge, its
-- user, the user's TOTP factor and the account's policy override (for the
-- session it opens), the challenge and the factor locked (one answer at a
-- time, a code's step accepted once). No row when the challenge, the user
-- or the factor is gone (a factor reset meanwhile ends the challenge).
SELECT c.id, c.user_id, c.expires_at, c.used_at, c.attempts,
       u.email, u.name, u.account_role, u.is_active, u.created_at AS user_created_at,
       f.id AS factor_id, f.secret_sealed, f.confirmed_at, f.last_used_step, f.created_at AS factor_created_at,
       a.session_idle_minutes, a.session_absolute_minutes, a.max_sessions_per_user, a.session_limit_action,
       a.mfa_required, a.reauth_max_age_minutes
FROM mfa_challenges c
JOIN users u ON u.account_id = c.account_id AND u.id = c.user_id
JOIN auth_factors f ON f.account_id = c.account_id AND f.user_id = c.user_id AND f.kind = 'totp'
JOIN accounts a ON a.id = c.account_id
WHERE c.account_id = @account_id AND c.token_hash = @token_hash
FOR UPDATE OF c, f;

-- name: MFAChallengeSpend :execrows
-- A right answer, in one round trip: the challenge used, and, for a TOTP
-- code, the step recorded on the factor (a code's step is accepted once).
-- (A data-modifying WITH runs whether or not the statement reads it.)
WITH factor AS (
    UPDATE auth_factors AS f SET last_used_step = sqlc.narg(step)::bigint
    WHERE f.account_id = @account_id AND f.id = @factor_id AND sqlc.narg(step)::bigint IS NOT NULL
    RETURNING f.id
)
UPDATE mfa_challenges AS c SET used_at = @now::timestamptz
WHERE c.account_id = @account_id AND c.id = @id;

-- name: MFAChallengeMarkUsed :execrows
-- A right answer with a recovery code: only the challenge changes. (Not
-- MFAChallengeSpend with a null step: its WITH would then be constant-false,
-- and Citus prunes such a statement to no shard at all.)
UPDATE mfa_challenges SET used_at = @now::timestamptz
WHERE account_id = @account_id AND id = @id;

-- name: MFAChallengeUpdate :execrows
UPDATE mfa_challenges SET attempts = @attempts::integer, used_at = sqlc.narg(used_at)::timestamptz
WHERE account_id = @account_id AND id = @id;

-- name: SessionAuthState :one
-- The caller's session's authentication state, for the recent-auth check
-- and the enrol-only rule (live: see queries/sessions.sql).
-- With the account's recent-auth window override, so the check is one
-- round trip.
SELECT s.aal, s.amr, coalesce(s.last_auth_at, s.auth_time)::timestamptz AS last_auth_at, s.mfa_enrol_only,
       a.reauth_max_age_minutes
FROM sessions s
JOIN accounts a ON a.id = s.account_id
WHERE s.account_id = @account_id AND s.id = @session_id
  AND session_live(s.revoked_at, s.idle_expires_at, s.absolute_expires_at, @now::timestamptz);

-- name: SessionSetAuth :execrows
-- A new authentication on a live session (reauthenticate, an enrolment
-- confirmed by an enrol-only session).
UPDATE sessions SET aal = @aal::smallint, amr = @amr::text[], last_auth_at = @last_auth_at::timestamptz,
    mfa_enrol_only = @mfa_enrol_only::boolean
WHERE account_id = @account_id AND id = @session_id AND revoked_at IS NULL;

-- name: AccountPolicyForSignIn :one
-- A sign-in's first read: the account's policy and whether the user has a
-- confirmed second factor, in one round trip.
SELECT a.session_idle_minutes, a.session_absolute_minutes, a.max_sessions_per_user, a.session_limit_action,
       a.mfa_required, a.reauth_max_age_minutes,
       EXISTS (SELECT 1 FROM auth_factors f
               WHERE f.account_id = a.id AND f.user_id = @user_id AND f.confirmed_at IS NOT NULL) AS has_factor
FROM accounts a
WHERE a.id = @account_id;

-- name: UsersWithConfirmedFactor :many
-- Of the given users, those with a confirmed second factor (the member
-- list's mfa_enabled).
SELECT DISTINCT user_id FROM auth_factors
WHERE account_id = @account_id AND user_id = ANY(@user_ids::uuid[]) AND confirmed_at IS NOT NULL;

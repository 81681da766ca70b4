-- name: SessionCreate :exec
-- One sign-in: the session row and its first refresh token.
WITH s AS (
    INSERT INTO sessions (
        account_id, id, user_id, device_name, device_id, ip_address, user_agent,
        last_ip, last_user_agent, auth_time, idle_seconds, absolute_seconds, created_at, last_used_at,
        idle_expires_at, absolute_expires_at, current_jti_hash)
    VALUES (
        @account_id, @id, @user_id, @device_name, @device_id, @ip_address, @user_agent,
        @ip_address, @user_agent, @auth_time, @idle_seconds, @absolute_seconds, @now, @now,
        @idle_expires_at, @absolute_expires_at, @jti_hash)
    RETURNING account_id, id
)
INSERT INTO refresh_tokens (account_id, jti_hash, session_id, issued_at, expires_at)
SELECT s.account_id, @jti_hash, s.id, @now, @token_expires_at FROM s;

-- name: SessionLockByRefreshToken :one
-- Locks the family's session row. Only immutable columns of the token row are
-- read (its session); everything the decision needs lives on the session row,
-- which READ COMMITTED re-reads at its newest version after waiting for the
-- lock, so two concurrent rotations cannot both see the same "current" token.
SELECT s.id, s.user_id, s.auth_time, s.idle_seconds, s.absolute_seconds,
       s.idle_expires_at, s.absolute_expires_at, s.current_jti_hash,
       s.previous_jti_hash, s.current_jti_sealed, s.rotated_at, s.generation,
       s.revoked_at, u.is_active AS user_is_active, u.account_role
FROM refresh_tokens rt
JOIN sessions s ON s.account_id = rt.account_id AND s.id = rt.session_id
JOIN users u ON u.account_id = s.account_id AND u.id = s.user_id
WHERE rt.account_id = @account_id AND rt.jti_hash = @jti_hash
FOR UPDATE OF s;

-- name: SessionRotate :exec
-- One rotation: the session slides and records the new current token, the
-- presented token is marked used, the new token row is inserted.
WITH s AS (
    UPDATE sessions SET
        previous_jti_hash   = current_jti_hash,
        current_jti_hash    = @new_jti_hash,
        current_jti_sealed  = @new_jti_sealed,
        rotated_at          = @now,
        last_used_at        = @now,
        last_ip             = @last_ip,
        last_user_agent     = @last_user_agent,
        generation          = generation + 1,
        auth_time           = @auth_time,
        idle_seconds        = @idle_seconds,
        absolute_seconds    = @absolute_seconds,
        idle_expires_at     = @idle_expires_at,
        absolute_expires_at = @absolute_expires_at
    WHERE sessions.account_id = @account_id AND sessions.id = @session_id
    RETURNING sessions.account_id, sessions.id
), used AS (
    UPDATE refresh_tokens SET used_at = @now
    WHERE refresh_tokens.account_id = @account_id AND refresh_tokens.jti_hash = @old_jti_hash
      AND refresh_tokens.used_at IS NULL
)
INSERT INTO refresh_tokens (account_id, jti_hash, session_id, issued_at, expires_at)
SELECT s.account_id, @new_jti_hash, s.id, @now, @token_expires_at FROM s;

-- name: SessionRevoke :one
-- Revokes one live session and its tokens; returns how many sessions changed
-- (0 when it was already revoked: already revoked rows are not re-stamped).
WITH s AS (
    UPDATE sessions SET revoked_at = @now::timestamptz, revoke_reason = @reason::text
    WHERE sessions.account_id = @account_id AND sessions.id = @session_id AND sessions.revoked_at IS NULL
    RETURNING sessions.account_id, sessions.id
), t AS (
    UPDATE refresh_tokens rt SET revoked_at = @now
    FROM s
    WHERE rt.account_id = s.account_id AND rt.session_id = s.id AND rt.revoked_at IS NULL
)
SELECT count(*) AS revoked FROM s;

-- name: SessionRevokeAllForUser :one
-- Revokes every live session (not revoked, neither deadline passed) of one
-- user except (optionally) one; the count is of sessions that were live.
WITH s AS (
    UPDATE sessions SET revoked_at = @now::timestamptz, revoke_reason = @reason::text
    WHERE sessions.account_id = @account_id AND sessions.user_id = @user_id AND sessions.revoked_at IS NULL
      AND sessions.idle_expires_at > @now::timestamptz AND sessions.absolute_expires_at > @now::timestamptz
      AND (sqlc.narg(except_session_id)::uuid IS NULL OR sessions.id <> sqlc.narg(except_session_id)::uuid)
    RETURNING sessions.account_id, sessions.id
), t AS (
    UPDATE refresh_tokens rt SET revoked_at = @now
    FROM s
    WHERE rt.account_id = s.account_id AND rt.session_id = s.id AND rt.revoked_at IS NULL
)
SELECT count(*) AS revoked FROM s;

-- name: SessionGetOwner :one
SELECT user_id FROM sessions WHERE account_id = @account_id AND id = @id;

-- name: SessionRevokeAllForAccount :one
-- Bulk revocation, one statement: every live session of the account (except
-- those of one user, when given) and their unrevoked refresh tokens. Already
-- revoked or expired sessions are not touched, so a second call counts 0.
WITH s AS (
    UPDATE sessions SET revoked_at = @now::timestamptz, revoke_reason = @reason::text
    WHERE sessions.account_id = @account_id AND sessions.revoked_at IS NULL
      AND sessions.idle_expires_at > @now::timestamptz
      AND sessions.absolute_expires_at > @now::timestamptz
      AND (sqlc.narg(except_user_id)::uuid IS NULL OR sessions.user_id <> sqlc.narg(except_user_id)::uuid)
    RETURNING sessions.account_id, sessions.id
), t AS (
    UPDATE refresh_tokens rt SET revoked_at = @now::timestamptz
    FROM s
    WHERE rt.account_id = s.account_id AND rt.session_id = s.id AND rt.revoked_at IS NULL
)
SELECT count(*) AS revoked FROM s;

-- name: SessionListLiveByUser :many
-- The user's live sessions (not revoked, neither deadline passed at now),
-- most recently used first.
SELECT id, device_name, device_id, ip_address, user_agent, created_at,
       last_used_at, idle_expires_at, absolute_expires_at
FROM sessions
WHERE account_id = @account_id AND user_id = @user_id AND revoked_at IS NULL
  AND idle_expires_at > @now AND absolute_expires_at > @now
ORDER BY last_used_at DESC, id;

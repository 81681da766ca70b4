-- A LIVE session: session_live(revoked_at, idle_expires_at,
-- absolute_expires_at, now) (migrations/00017), the one definition, called
-- by every query below that says "live" and by the definer function
-- auth_session_is_live. Both deadlines strictly after now: a session is
-- dead at its deadline (core's rule, core/refresh.go). The function is an
-- inlinable SQL expression, so the planner sees the plain predicates and
-- matches the partial index sessions_live_by_user (WHERE revoked_at IS
-- NULL); adapters/postgres/explain_test.go checks the plans, and
-- TestQueries_LiveConditionWrittenOnce that no query spells it out.

-- name: SessionCreate :exec
-- One sign-in: the session row, which holds its first refresh token's hash.
INSERT INTO sessions (
    account_id, id, user_id, device_name, device_id, ip_address, user_agent,
    last_ip, last_user_agent, auth_time, idle_seconds, absolute_seconds, created_at, last_used_at,
    idle_expires_at, absolute_expires_at, current_jti_hash,
    aal, amr, last_auth_at, mfa_enrol_only)
VALUES (
    @account_id, @id, @user_id, @device_name, @device_id, @ip_address, @user_agent,
    @ip_address, @user_agent, @auth_time, @idle_seconds, @absolute_seconds, @now, @now,
    @idle_expires_at, @absolute_expires_at, @jti_hash,
    @aal::smallint, @amr::text[], @auth_time, @mfa_enrol_only::boolean);

-- name: SessionRotateIfCurrent :one
-- The refresh fast path: one statement, sent in the same round trip as the
-- tenant setting. It rotates only when the row is exactly what core's
-- RotationGuard states (the presented token is the current one, of this
-- user, live (see the top), the snapshot and absolute deadline those of
-- the claims, the user active); anything else matches no row and
-- core's slow path decides. A concurrent rotation of the same token waits
-- for the row lock, re-checks the WHERE against the new version (READ
-- COMMITTED) and matches nothing, so one token rotates once. Only unindexed
-- columns change: a HOT update (migrations/00004).
UPDATE sessions s SET
    previous_jti_hash  = s.current_jti_hash,
    current_jti_hash   = @new_jti_hash,
    current_jti_sealed = @new_jti_sealed,
    rotated_at         = @now::timestamptz,
    last_used_at       = @now::timestamptz,
    last_ip            = @last_ip,
    last_user_agent    = @last_user_agent,
    generation         = s.generation + 1,
    idle_expires_at    = @idle_expires_at
FROM users u
WHERE s.account_id = @account_id AND s.id = @session_id
  AND s.current_jti_hash = @presented_jti_hash
  AND s.user_id = @user_id
  AND session_live(s.revoked_at, s.idle_expires_at, s.absolute_expires_at, @now::timestamptz)
  AND s.absolute_expires_at = @absolute_expires_at
  AND s.auth_time = @auth_time
  AND s.idle_seconds = @idle_seconds
  AND s.absolute_seconds = @absolute_seconds
  AND u.account_id = s.account_id AND u.id = s.user_id AND u.is_active
RETURNING u.account_role, s.generation, s.aal, s.amr,
    coalesce(s.last_auth_at, s.auth_time)::timestamptz AS last_auth_at, s.mfa_enrol_only;

-- name: SessionLockForRefresh :one
-- The refresh slow path: locks the family's session row (by the token's sid)
-- with its user's state. READ COMMITTED re-reads the row at its newest
-- version after waiting for the lock, so two concurrent rotations cannot
-- both see the same "current" token.
SELECT s.id, s.user_id, s.auth_time, s.idle_seconds, s.absolute_seconds,
       s.idle_expires_at, s.absolute_expires_at, s.current_jti_hash,
       s.previous_jti_hash, s.current_jti_sealed, s.rotated_at, s.generation,
       s.revoked_at, u.is_active AS user_is_active, u.account_role,
       s.aal, s.amr, coalesce(s.last_auth_at, s.auth_time)::timestamptz AS last_auth_at, s.mfa_enrol_only
FROM sessions s
JOIN users u ON u.account_id = s.account_id AND u.id = s.user_id
WHERE s.account_id = @account_id AND s.id = @session_id
FOR UPDATE OF s;

-- name: SessionRotate :execrows
-- One rotation decided by the slow path on the locked row: the session
-- slides and records the new current token; the presented one becomes the
-- previous.
UPDATE sessions SET
    previous_jti_hash   = current_jti_hash,
    current_jti_hash    = @new_jti_hash,
    current_jti_sealed  = @new_jti_sealed,
    rotated_at          = @now::timestamptz,
    last_used_at        = @now::timestamptz,
    last_ip             = @last_ip,
    last_user_agent     = @last_user_agent,
    generation          = generation + 1,
    auth_time           = @auth_time,
    idle_seconds        = @idle_seconds,
    absolute_seconds    = @absolute_seconds,
    idle_expires_at     = @idle_expires_at,
    absolute_expires_at = @absolute_expires_at
WHERE account_id = @account_id AND id = @session_id AND current_jti_hash = @old_jti_hash;

-- name: SessionIsLive :one
-- The liveness (live: see the top) of the caller's session, inside the
-- tenant's transaction (its first round trip).
SELECT EXISTS (
    SELECT 1 FROM sessions
    WHERE account_id = @account_id AND id = @session_id
      AND session_live(revoked_at, idle_expires_at, absolute_expires_at, @now)) AS live;

-- name: UserGetIfSessionLive :one
-- GET /auth/me in one statement: the caller's user row, only while the
-- access token's session is live (see the top; revocation bites at once,
-- JWT-09).
SELECT u.account_id, u.id, u.email, u.name, u.account_role, u.is_active, u.created_at
FROM sessions s
JOIN users u ON u.account_id = s.account_id AND u.id = s.user_id
WHERE s.account_id = @account_id AND s.id = @session_id AND s.user_id = @user_id
  AND session_live(s.revoked_at, s.idle_expires_at, s.absolute_expires_at, @now);

-- name: SessionRevoke :one
-- Revokes one live session (and so every token of its family); returns how
-- many sessions changed (0 when it was already revoked: already revoked rows
-- are not re-stamped).
WITH s AS (
    UPDATE sessions SET revoked_at = @now::timestamptz, revoke_reason = @reason::text
    WHERE sessions.account_id = @account_id AND sessions.id = @session_id AND sessions.revoked_at IS NULL
    RETURNING sessions.account_id, sessions.id
)
SELECT count(*) AS revoked FROM s;

-- name: SessionGetOwner :one
SELECT user_id FROM sessions WHERE account_id = @account_id AND id = @id;

-- name: SessionRevokeLive :one
-- Bulk revocation, one statement: every live (see the top) session of the
-- account, or of one user when user_id is given, except one session
-- (except_session_id) or one user's sessions (except_user_id) when given.
-- Already revoked or expired sessions are not touched, so a second call
-- counts 0; the count is of sessions that were live. With user_id the
-- custom plan reads sessions_live_by_user at (account_id, user_id).
WITH s AS (
    UPDATE sessions SET revoked_at = @now::timestamptz, revoke_reason = @reason::text
    WHERE sessions.account_id = @account_id
      AND (sqlc.narg(user_id)::uuid IS NULL OR sessions.user_id = sqlc.narg(user_id)::uuid)
      AND session_live(sessions.revoked_at, sessions.idle_expires_at, sessions.absolute_expires_at, @now::timestamptz)
      AND (sqlc.narg(except_session_id)::uuid IS NULL OR sessions.id <> sqlc.narg(except_session_id)::uuid)
      AND (sqlc.narg(except_user_id)::uuid IS NULL OR sessions.user_id <> sqlc.narg(except_user_id)::uuid)
    RETURNING sessions.account_id, sessions.id
)
SELECT count(*) AS revoked FROM s;

-- name: SessionListLiveByUser :many
-- The user's live sessions (see the top), most recently used first.
SELECT id, device_name, device_id, ip_address, user_agent, last_ip, last_user_agent,
       created_at, last_used_at, idle_expires_at, absolute_expires_at
FROM sessions
WHERE account_id = @account_id AND user_id = @user_id
  AND session_live(revoked_at, idle_expires_at, absolute_expires_at, @now)
ORDER BY last_used_at DESC, id;

-- Account administration (docs/session-rules.md §5) -----------------------------
-- These revoke by updating sessions only: a revoked session refuses every
-- refresh token of its family and, through the liveness check, every access
-- token.

-- name: SessionListLiveByAccount :many
-- One page of the account's live sessions (see the top; optionally one
-- user's), most recent activity first. Keyset pagination on (last_used_at, id), both
-- descending, so pages neither skip nor repeat. Reads through
-- sessions_live_by_user (account_id prefix, or the exact (account_id,
-- user_id) with the filter) and a top-N sort: there is deliberately no
-- index on last_used_at (see migrations/00006). Callers ask for one row
-- more than the page to learn whether another page follows.
SELECT s.id, s.user_id, u.email AS user_email, s.device_name, s.device_id,
       s.ip_address, s.user_agent, s.last_ip, s.last_user_agent, s.created_at,
       s.last_used_at, s.idle_expires_at, s.absolute_expires_at
FROM sessions s
JOIN users u ON u.account_id = s.account_id AND u.id = s.user_id
WHERE s.account_id = @account_id
  AND session_live(s.revoked_at, s.idle_expires_at, s.absolute_expires_at, @now)
  AND (sqlc.narg(user_id)::uuid IS NULL OR s.user_id = sqlc.narg(user_id)::uuid)
  AND (sqlc.narg(before_last_used_at)::timestamptz IS NULL
       OR (s.last_used_at, s.id) < (sqlc.narg(before_last_used_at)::timestamptz, sqlc.narg(before_id)::uuid))
ORDER BY s.last_used_at DESC, s.id DESC
LIMIT @max_rows;

-- name: SessionCountLiveByUser :one
-- How many live sessions (see the top) the user holds: the session limit's
-- count, read with the user's row locked.
SELECT count(*) AS live
FROM sessions
WHERE account_id = @account_id AND user_id = @user_id
  AND session_live(revoked_at, idle_expires_at, absolute_expires_at, @now);

-- name: SessionEvictLeastRecentlyUsed :many
-- Revokes the user's live sessions (see the top) beyond the `keep` most
-- recently used ones and returns their ids (least recently used last). Run with the
-- user's row locked, so concurrent sign-ins of one user evict one after
-- the other.
WITH victims AS (
    SELECT x.account_id, x.id
    FROM sessions x
    WHERE x.account_id = @account_id AND x.user_id = @user_id
      AND session_live(x.revoked_at, x.idle_expires_at, x.absolute_expires_at, @now::timestamptz)
    ORDER BY x.last_used_at DESC, x.id DESC
    OFFSET @keep::integer
    FOR UPDATE
)
UPDATE sessions s SET revoked_at = @now::timestamptz, revoke_reason = @reason::text
FROM victims v
WHERE s.account_id = v.account_id AND s.id = v.id
RETURNING s.id;

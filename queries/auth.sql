-- The narrow pre-tenant path: SECURITY DEFINER functions (see migrations).

-- name: AuthUserForLogin :one
SELECT f.user_id::uuid AS user_id, f.account_id::uuid AS account_id,
       f.password_hash::text AS password_hash, f.is_active::boolean AS is_active,
       f.account_role::text AS account_role, f.email_verified::boolean AS email_verified
FROM auth_user_for_login(@email::text) AS f(user_id, account_id, password_hash, is_active, account_role, email_verified);

-- name: AuthSessionAccount :one
SELECT auth_session_account(@session_id::uuid)::uuid AS account_id;

-- name: AuthSessionIsLive :one
SELECT auth_session_is_live(@account_id::uuid, @session_id::uuid, @now::timestamptz)::boolean AS live;

-- name: AuthPasswordResetAccount :one
SELECT auth_password_reset_account(@token_hash::bytea)::uuid AS account_id;

-- name: AuthEmailVerificationAccount :one
SELECT auth_email_verification_account(@token_hash::bytea)::uuid AS account_id;

-- name: AuthInvitationAccount :one
SELECT auth_invitation_account(@token_hash::bytea)::uuid AS account_id;

-- name: AuthMFAChallengeOwner :one
SELECT o.account_id::uuid AS account_id, o.user_id::uuid AS user_id FROM auth_mfa_challenge_owner(@token_hash::bytea) AS o;

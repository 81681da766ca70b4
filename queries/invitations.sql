-- name: InvitationCreate :exec
INSERT INTO invitations (account_id, id, email, account_role, token_hash, invited_by, created_at, expires_at, last_sent_at)
VALUES (@account_id, @id, @email, @account_role, @token_hash, sqlc.narg(invited_by)::uuid, @created_at, @expires_at, @created_at);

-- name: InvitationLockByToken :one
-- Locks one invitation for its acceptance: a concurrent accept of the
-- same token waits here and then reads accepted_at as the winner left it.
SELECT id, email, account_role, invited_by, created_at, expires_at, last_sent_at, send_count, accepted_at, accepted_user_id, revoked_at
FROM invitations
WHERE account_id = @account_id AND token_hash = @token_hash
FOR UPDATE;

-- name: InvitationLock :one
SELECT id, email, account_role, invited_by, created_at, expires_at, last_sent_at, send_count, accepted_at, accepted_user_id, revoked_at
FROM invitations
WHERE account_id = @account_id AND id = @id
FOR UPDATE;

-- name: InvitationAccept :exec
UPDATE invitations SET accepted_at = @now::timestamptz, accepted_user_id = @user_id::uuid
WHERE account_id = @account_id AND id = @id;

-- name: InvitationRevoke :exec
UPDATE invitations SET revoked_at = @now::timestamptz
WHERE account_id = @account_id AND id = @id;

-- name: InvitationResend :exec
-- A new token (the earlier link stops working) and a new lifetime.
UPDATE invitations SET token_hash = @token_hash, expires_at = @expires_at::timestamptz,
    last_sent_at = @now::timestamptz, send_count = send_count + 1
WHERE account_id = @account_id AND id = @id;

-- name: InvitationListPending :many
-- One page of the account's pending invitations (neither accepted nor
-- revoked; expired ones included, with their expires_at), oldest first,
-- keyset on (created_at, id) over invitations_pending.
SELECT id, email, account_role, invited_by, created_at, expires_at, last_sent_at, send_count, accepted_at, accepted_user_id, revoked_at
FROM invitations
WHERE account_id = @account_id AND accepted_at IS NULL AND revoked_at IS NULL
  AND (sqlc.narg(after_created_at)::timestamptz IS NULL
       OR (created_at, id) > (sqlc.narg(after_created_at)::timestamptz, sqlc.narg(after_id)::uuid))
ORDER BY created_at, id
LIMIT @max_rows;

-- name: PasswordResetTokenCreate :exec
INSERT INTO password_reset_tokens (account_id, token_hash, user_id, expires_at, created_at)
VALUES (@account_id, @token_hash, @user_id, @expires_at, @created_at);

-- name: PasswordResetTokenLock :one
-- Locks one token for its consume: a concurrent confirm of the same token
-- waits here and then reads used_at as the winner left it.
SELECT user_id, expires_at, used_at, created_at
FROM password_reset_tokens
WHERE account_id = @account_id AND token_hash = @token_hash
FOR UPDATE;

-- name: PasswordResetTokenConsumeAllForUser :execrows
-- Marks every unused token of the user used: after a reset or a password
-- change no earlier reset mail works any more.
UPDATE password_reset_tokens SET used_at = @now::timestamptz
WHERE account_id = @account_id AND user_id = @user_id AND used_at IS NULL;

-- name: EmailVerificationTokenCreate :exec
INSERT INTO email_verification_tokens (account_id, token_hash, user_id, expires_at, created_at)
VALUES (@account_id, @token_hash, @user_id, @expires_at, @created_at);

-- name: EmailVerificationTokenLock :one
-- Locks one token for its use: a concurrent use of the same token waits
-- here and then reads used_at as the winner left it.
SELECT user_id, expires_at, used_at, created_at
FROM email_verification_tokens
WHERE account_id = @account_id AND token_hash = @token_hash
FOR UPDATE;

-- name: EmailVerificationTokensConsume :execrows
-- Marks every unused token of the user used: once verified, no other
-- verification mail works.
UPDATE email_verification_tokens SET used_at = @now::timestamptz
WHERE account_id = @account_id AND user_id = @user_id AND used_at IS NULL;

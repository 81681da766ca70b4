package core

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// errInvalidResetToken is the one answer for a reset token that cannot be
// used: unknown, already used (or superseded), expired, or its user
// inactive.
var errInvalidResetToken = &Error{Code: CodeInvalidResetToken, Message: "the password-reset token is invalid or has expired"}

// NewResetToken returns a fresh password-reset token (256 random bits).
func NewResetToken() string { return newSecret() }

// HashResetToken is how a reset token is stored and looked up: SHA-256 of
// its text.
func HashResetToken(token string) []byte { return digest(token) }

// ChangePassword replaces the caller's password after checking the
// current one, and ends the caller's other sessions (REV-04); the current
// session survives. Outstanding reset tokens are spent as well, so an old
// reset mail cannot undo the change.
//
// The current password is verified before the new one is hashed, and a
// wrong one counts on the same per-email brute-force counter as sign-in
// (LGN-08): guessing here is throttled (429) exactly like sign-in, and
// audited. The write is one transaction with the user row locked; if the
// hash changed since it was verified (a concurrent change), the current
// password is checked again against the new hash, so each change checks
// the hash the other left. Errors: CodeValidation (new password),
// CodeInvalidCredentials (wrong current password; the same generic message
// as sign-in), CodeRateLimited (*ThrottledError).
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next string, client Client) error {
	if err := ValidatePassword("new_password", next); err != nil {
		return err
	}
	var (
		email, hash string
		active      bool
	)
	err := s.store.InTenantTx(ctx, p.AccountID, func(tx TenantTx) error {
		u, err := tx.UserGet(ctx, p.UserID)
		if err != nil {
			return err
		}
		email, active = u.Email, u.Active
		hash, _, err = tx.UserLockCredentials(ctx, p.UserID)
		return err
	})
	if err != nil {
		return err
	}
	key := ThrottleKey(email)
	throttle, err := s.throttleCheck(ctx, key, s.clock.Now())
	if err != nil {
		return err
	}
	ok, _, err := s.hasher.Verify(hash, current)
	if err != nil {
		return fmt.Errorf("verify password: %w", err)
	}
	now := s.clock.Now()
	if !ok || !active {
		return s.changePasswordRefused(ctx, p, key, client, now)
	}
	newHash, err := s.hasher.Hash(next)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	var revoked int64
	err = s.store.InTenantTx(ctx, p.AccountID, func(tx TenantTx) error {
		locked, active, err := tx.UserLockCredentials(ctx, p.UserID)
		if err != nil {
			return err
		}
		if locked != hash {
			ok, _, err := s.hasher.Verify(locked, current)
			if err != nil {
				return fmt.Errorf("verify password: %w", err)
			}
			if !ok {
				return errInvalidCredentials
			}
		}
		if !active {
			return errInvalidCredentials
		}
		if err := tx.UserSetPasswordHash(ctx, p.UserID, newHash, now); err != nil {
			return err
		}
		sid := p.SessionID
		if revoked, err = tx.SessionRevokeAllForUser(ctx, p.UserID, &sid, now, ReasonPasswordChanged); err != nil {
			return err
		}
		if _, err := tx.PasswordResetTokensConsume(ctx, p.UserID, now); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionPasswordChanged, "user", p.UserID.String(),
			map[string]any{"revoked_sessions": revoked, "kept_session_id": p.SessionID.String()}, client, now))
	})
	if errors.Is(err, errInvalidCredentials) {
		return s.changePasswordRefused(ctx, p, key, client, now)
	}
	if err != nil {
		return err
	}
	if err := s.throttleSuccess(ctx, key, throttle); err != nil {
		s.log.WarnContext(ctx, "login throttle not reset", "err", err)
	}
	return nil
}

// changePasswordRefused counts, audits and answers a wrong current
// password.
func (s *Service) changePasswordRefused(ctx context.Context, p Principal, key []byte, client Client, now time.Time) error {
	if err := s.throttleFailure(ctx, key, now); err != nil {
		return err
	}
	err := s.store.InTenantTx(ctx, p.AccountID, func(tx TenantTx) error {
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionPasswordChangeFailed, "user", p.UserID.String(),
			map[string]any{"reason": "wrong_current_password", "session_id": p.SessionID.String()}, client, now))
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "password change refused", "reason", "wrong_current_password",
		"account_id", p.AccountID, "user_id", p.UserID)
	return errInvalidCredentials
}

// RequestPasswordReset sends a single-use, expiring reset token to the
// address when it belongs to an active user. It returns nil whether or not
// it does, and does the same work up to the database either way (the
// lookup, token generation and hashing), so neither the answer nor, beyond
// one short insert, its timing tells whether the address is known. Mail is
// handed to the Mailer, whose production adapter only queues it, so mail
// delivery time never shows. A mail that cannot be handed over is logged,
// not reported: the caller learns nothing from it either.
func (s *Service) RequestPasswordReset(ctx context.Context, email string, client Client) error {
	email = NormalizeEmail(email)
	token := NewResetToken()
	hash := HashResetToken(token)
	lu, err := s.store.UserForLogin(ctx, email)
	if errors.Is(err, ErrNotFound) || (err == nil && !lu.Active) {
		// Nothing is recorded for the tenant (there may be none).
		s.log.InfoContext(ctx, "password reset not sent", "reason", "unknown_or_inactive")
		return nil
	}
	if err != nil {
		return err
	}
	now := s.clock.Now()
	t := PasswordResetToken{Hash: hash, UserID: lu.UserID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.ResetTokenTTL)}
	err = s.store.InTenantTx(ctx, lu.AccountID, func(tx TenantTx) error {
		if err := tx.PasswordResetTokenCreate(ctx, t); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(lu.AccountID, &lu.UserID, ActionPasswordResetAsked, "user", lu.UserID.String(),
			map[string]any{"expires_at": t.ExpiresAt.UTC().Format(time.RFC3339)}, client, now))
	})
	if err != nil {
		return err
	}
	if s.mailer == nil {
		s.log.WarnContext(ctx, "password reset not sent: no mailer configured", "account_id", lu.AccountID, "user_id", lu.UserID)
		return nil
	}
	if err := s.mailer.SendPasswordReset(ctx, email, token, t.ExpiresAt); err != nil {
		s.log.ErrorContext(ctx, "password reset mail not accepted", "err", err, "account_id", lu.AccountID, "user_id", lu.UserID)
	}
	return nil
}

// ConfirmPasswordReset consumes a reset token and sets the new password.
// All of the user's sessions end (REV-04), and every other outstanding
// reset token of the user is spent. The token is found through the narrow
// pre-tenant lookup, then locked and judged in the tenant's transaction,
// so two concurrent confirms of one token succeed once. Errors:
// CodeValidation (new password), CodeInvalidResetToken.
func (s *Service) ConfirmPasswordReset(ctx context.Context, token, next string, client Client) error {
	if err := ValidatePassword("new_password", next); err != nil {
		return err
	}
	if token == "" {
		return errInvalidResetToken
	}
	hash := HashResetToken(token)
	accountID, err := s.store.PasswordResetAccount(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return errInvalidResetToken
	}
	if err != nil {
		return err
	}
	newHash, err := s.hasher.Hash(next)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	now := s.clock.Now()
	return s.store.InTenantTx(ctx, accountID, func(tx TenantTx) error {
		t, err := tx.PasswordResetTokenLock(ctx, hash)
		if errors.Is(err, ErrNotFound) {
			return errInvalidResetToken
		}
		if err != nil {
			return err
		}
		if !t.Usable(now) {
			return errInvalidResetToken
		}
		u, err := tx.UserGet(ctx, t.UserID)
		if err != nil {
			return err
		}
		if !u.Active {
			return errInvalidResetToken
		}
		if err := tx.UserSetPasswordHash(ctx, u.ID, newHash, now); err != nil {
			return err
		}
		if _, err := tx.PasswordResetTokensConsume(ctx, u.ID, now); err != nil {
			return err
		}
		revoked, err := tx.SessionRevokeAllForUser(ctx, u.ID, nil, now, ReasonPasswordReset)
		if err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(accountID, &u.ID, ActionPasswordReset, "user", u.ID.String(),
			map[string]any{"revoked_sessions": revoked}, client, now))
	})
}

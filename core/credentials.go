package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
// wrong one is throttled (429) like a sign-in, and audited (LGN-08): it is
// judged on the session's own counter, and counted on the session's and
// on the email's (so a thief holding a session gets no budget the email's
// other clients do not lose) — but never judged on the email's, so that
// guessing at sign-in does not lock the owner's change-password (LGN-09).
// The write is one transaction with the user row locked; if the
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
	err := s.passwords.inPasswordTx(ctx, p.AccountID, func(tx passwordTx) error {
		if err := s.RequireRecentAuth(ctx, tx, p); err != nil {
			return err
		}
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
	key := SessionThrottleKey(p.SessionID)
	keys := [][]byte{key, ThrottleKey(email)}
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
		return s.changePasswordRefused(ctx, p, keys, client, now)
	}
	newHash, err := s.hasher.Hash(next)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	err = s.passwords.inPasswordTx(ctx, p.AccountID, func(tx passwordTx) error {
		return s.setPassword(ctx, tx, p, hash, current, newHash, client, now)
	})
	if errors.Is(err, errInvalidCredentials) {
		return s.changePasswordRefused(ctx, p, keys, client, now)
	}
	if err != nil {
		return err
	}
	if err := s.throttleSuccess(ctx, key, throttle); err != nil {
		s.log.WarnContext(ctx, "login throttle not reset", "err", err)
	}
	return nil
}

// setPassword is ChangePassword's write, in tx: with the user row locked,
// the current password checked again when the hash changed since it was
// verified (a concurrent change), the new hash stored, every other session
// of the user ended, outstanding reset tokens spent, and the change
// audited.
func (s *Service) setPassword(ctx context.Context, tx passwordTx, p Principal, verified, current, newHash string, client Client, now time.Time) error {
	locked, active, err := tx.UserLockCredentials(ctx, p.UserID)
	if err != nil {
		return err
	}
	if locked != verified {
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
	revoked, err := tx.SessionRevokeAllForUser(ctx, p.UserID, &sid, now, ReasonPasswordChanged)
	if err != nil {
		return err
	}
	if _, err := tx.PasswordResetTokensConsume(ctx, p.UserID, now); err != nil {
		return err
	}
	return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionPasswordChanged, "user", p.UserID.String(),
		map[string]any{"revoked_sessions": revoked, "kept_session_id": p.SessionID.String()}, client, now))
}

// changePasswordRefused counts, audits and answers a wrong current
// password.
func (s *Service) changePasswordRefused(ctx context.Context, p Principal, keys [][]byte, client Client, now time.Time) error {
	e := s.event(p.AccountID, &p.UserID, ActionPasswordChangeFailed, "user", p.UserID.String(),
		map[string]any{"reason": "wrong_current_password", "session_id": p.SessionID.String()}, client, now)
	if err := s.recordFailure(ctx, keys, &e, now); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "password change refused", "reason", "wrong_current_password",
		"account_id", p.AccountID, "user_id", p.UserID)
	return errInvalidCredentials
}

// RequestPasswordReset sends a single-use, expiring reset token to the
// address when it belongs to an active user. It returns nil whether or not
// it does, and the request itself does the same work either way (LGN-10):
// the lookup, a token's generation and hashing, and one transaction in one
// round trip that counts the request on the address's mail rate. What only
// a known address needs — storing the token and the request's audit event
// (one tenant transaction), then the mail — is deferred to the Mailer
// when it is a Deferrer (production's mailer.Queue), so it runs after the
// answer; a failure there is logged, never reported.
//
// The address is never refused for asking too often (that locked the
// owner out of their own reset): instead at most one mail goes out per
// interval of the mail rate (Config.ResetMail, LGN-11), and a request
// inside it is answered the same and mails nothing (its audit event says
// mailed: false) — the owner's inbox already holds a token that still
// works.
func (s *Service) RequestPasswordReset(ctx context.Context, email string, client Client) error {
	email = NormalizeEmail(email)
	token := NewResetToken()
	hash := HashResetToken(token)
	var (
		lu  LoginUser
		err error = ErrNotFound
	)
	if !strings.ContainsRune(email, 0) { // a NUL is no stored address (see SignIn)
		lu, err = s.resets.UserForLogin(ctx, email)
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	known := err == nil && lu.Active
	now := s.clock.Now()
	before, after, err := s.resets.RecordResetRequest(ctx, ResetRequestRecord{Key: ResetMailKey(email), Now: now, Rule: s.cfg.ResetMail})
	if err != nil {
		return err
	}
	if !known {
		// Nothing is recorded for a tenant (there may be none).
		s.log.InfoContext(ctx, "password reset not sent", "reason", "unknown_or_inactive")
		return nil
	}
	r := resetRequest{user: lu, email: email, token: token, hash: hash, mail: s.cfg.ResetMail.counted(before, after, now),
		heldUntil: before.LockedUntil, client: client, now: now}
	if d, ok := s.mailer.(Deferrer); ok {
		if err := d.Defer(func(ctx context.Context) { s.completeResetRequest(ctx, r) }); err != nil {
			s.log.ErrorContext(ctx, "password reset request not recorded", "err", err, "account_id", lu.AccountID, "user_id", lu.UserID)
		}
		return nil
	}
	s.completeResetRequest(ctx, r)
	return nil
}

// resetRequest is a known address's reset request, to be completed.
type resetRequest struct {
	user         LoginUser
	email, token string
	hash         []byte
	mail         bool      // the mail rate lets a mail go out
	heldUntil    time.Time // when mail is held back: until then
	client       Client
	now          time.Time
}

// completeResetRequest stores the token (when a mail goes out) with the
// request's audit event in one tenant transaction, then hands the mail
// over. Failures are logged: the requester was answered already.
func (s *Service) completeResetRequest(ctx context.Context, r resetRequest) {
	lu := r.user
	t := PasswordResetToken{Hash: r.hash, UserID: lu.UserID, CreatedAt: r.now, ExpiresAt: r.now.Add(s.cfg.ResetTokenTTL)}
	details := map[string]any{"mailed": r.mail}
	if r.mail {
		details["expires_at"] = t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	err := s.resets.inResetTx(ctx, lu.AccountID, func(tx resetTx) error {
		if r.mail {
			if err := tx.PasswordResetTokenCreate(ctx, t); err != nil {
				return err
			}
		}
		return tx.Audit(ctx, s.event(lu.AccountID, &lu.UserID, ActionPasswordResetAsked, "user", lu.UserID.String(), details, r.client, r.now))
	})
	switch {
	case err != nil:
		s.log.ErrorContext(ctx, "password reset request not recorded", "err", err, "account_id", lu.AccountID, "user_id", lu.UserID)
	case !r.mail:
		s.log.InfoContext(ctx, "password reset not mailed: inside the mail interval", "account_id", lu.AccountID, "user_id", lu.UserID,
			"next_mail_after", r.heldUntil)
	case s.mailer == nil:
		s.log.WarnContext(ctx, "password reset not sent: no mailer configured", "account_id", lu.AccountID, "user_id", lu.UserID)
	default:
		if err := s.mailer.SendPasswordReset(ctx, r.email, r.token, t.ExpiresAt); err != nil {
			s.log.ErrorContext(ctx, "password reset mail not accepted", "err", err, "account_id", lu.AccountID, "user_id", lu.UserID)
		}
	}
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
	accountID, err := s.resets.PasswordResetAccount(ctx, hash)
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
	return s.resets.inResetTx(ctx, accountID, func(tx resetTx) error {
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
		if err := s.verifiedByMail(ctx, tx, accountID, u.ID, client, now); err != nil {
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

package core

// Verified emails (docs/session-rules.md, "Verified emails"): with
// Config.EmailVerification on, a registration's owner is unverified until
// they use the link mailed to them, and cannot sign in before.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

var errInvalidVerificationToken = &Error{Code: CodeInvalidVerificationToken,
	Message: "the email-verification token is invalid, used or has expired; ask for a new mail"}

var errEmailNotVerified = &Error{Code: CodeEmailNotVerified,
	Message: "the email of this account is not verified yet: open the link mailed at registration, or ask for a new one"}

// Now is the service clock's now (the HTTP layer states an invitation's
// status at it).
func (s *Service) Now() time.Time { return s.clock.Now() }

// EmailVerificationRequired reports the server setting EMAIL_VERIFICATION.
func (s *Service) EmailVerificationRequired() bool { return s.cfg.EmailVerification }

// Registration is register's outcome. With verification required it is
// Pending and carries no user: the answer is the same whether the email
// was free, an unverified registration's, or a verified account's.
type Registration struct {
	User    User
	Pending bool
}

// pendingRegistration is a registration to complete (possibly after the
// answer, through the mail queue's Defer).
type pendingRegistration struct {
	existing *LoginUser // an unverified registration of the email, reclaimed
	acct     Account
	user     User
	hash     string
	token    string
	mail     bool
	client   Client
	now      time.Time
}

// registerPending is Register with verification required. The request
// does the same work whatever the email (LGN-10): the password's hash, the
// lookup and one round trip counting the address's mail rate; what only a
// free or unverified email needs — reclaiming the unverified registration,
// creating the account and its unverified owner with a verification token,
// the mail — is deferred to the mail queue (as the reset request's work),
// so it runs after the answer. A verified account's email gets nothing
// (no mail: its owner signs in or resets their password).
func (s *Service) registerPending(ctx context.Context, acct Account, user User, hash string, client Client) (Registration, error) {
	var (
		lu  LoginUser
		err error = ErrNotFound
	)
	if !strings.ContainsRune(user.Email, 0) {
		lu, err = s.registrations.UserForLogin(ctx, user.Email)
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Registration{}, err
	}
	found := err == nil
	now := acct.CreatedAt
	before, after, err := s.registrations.RecordResetRequest(ctx, ResetRequestRecord{Key: VerifyMailKey(user.Email), Now: now, Rule: s.cfg.ResetMail})
	if err != nil {
		return Registration{}, err
	}
	mail := s.cfg.ResetMail.counted(before, after, now)
	switch {
	case found && lu.EmailVerified:
		s.log.InfoContext(ctx, "registration not created", "reason", "email_verified_elsewhere")
		return Registration{Pending: true}, nil
	case found && !mail:
		// The pending registration's mail went out moments ago and still
		// works; a new one would replace it before it is read.
		s.log.InfoContext(ctx, "registration not replaced: inside the mail interval", "account_id", lu.AccountID)
		return Registration{Pending: true}, nil
	}
	r := pendingRegistration{acct: acct, user: user, hash: hash, token: newSecret(), mail: mail, client: client, now: now}
	if found {
		r.existing = &lu
	}
	if d, ok := s.mailer.(Deferrer); ok {
		if err := d.Defer(func(ctx context.Context) { s.completeRegistration(ctx, r) }); err != nil {
			s.log.ErrorContext(ctx, "registration not recorded", "err", err)
		}
		return Registration{Pending: true}, nil
	}
	s.completeRegistration(ctx, r)
	return Registration{Pending: true}, nil
}

// completeRegistration reclaims the email's unverified registration, if
// any, then creates the account, its unverified owner and a verification
// token with the account.created event in one tenant transaction, then
// mails the link. Failures are logged: the registrant was answered.
func (s *Service) completeRegistration(ctx context.Context, r pendingRegistration) {
	if r.existing != nil {
		if err := s.reclaimUnverified(ctx, *r.existing); err != nil {
			s.log.ErrorContext(ctx, "unverified registration not reclaimed", "err", err, "account_id", r.existing.AccountID)
			return
		}
	}
	expires := r.now.Add(s.cfg.VerificationTTL)
	err := s.registrations.inRegistrationTx(ctx, r.acct.ID, func(tx registrationTx) error {
		if err := tx.AccountCreate(ctx, r.acct); err != nil {
			return err
		}
		if err := tx.UserCreateUnverified(ctx, r.user, r.hash); err != nil {
			return err
		}
		if err := tx.EmailVerificationTokenCreate(ctx, PasswordResetToken{Hash: HashResetToken(r.token), UserID: r.user.ID, CreatedAt: r.now, ExpiresAt: expires}); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(r.acct.ID, &r.user.ID, ActionAccountCreated, "account", r.acct.ID.String(),
			map[string]any{"owner_user_id": r.user.ID.String(), "email_verified": false}, r.client, r.now))
	})
	if err != nil {
		// A conflict: the email was taken between the lookup and now.
		s.log.InfoContext(ctx, "registration not created", "err", err)
		return
	}
	s.sendVerification(ctx, r.user.AccountID, r.user.ID, r.user.Email, r.token, expires, r.mail)
}

func (s *Service) sendVerification(ctx context.Context, accountID, userID uuid.UUID, email, token string, expires time.Time, mail bool) {
	switch {
	case !mail:
		s.log.InfoContext(ctx, "verification not mailed: inside the mail interval", "account_id", accountID, "user_id", userID)
	case s.mailer == nil:
		s.log.WarnContext(ctx, "verification not sent: no mailer configured", "account_id", accountID, "user_id", userID)
	default:
		if err := s.mailer.SendEmailVerification(ctx, email, token, expires); err != nil {
			s.log.ErrorContext(ctx, "verification mail not accepted", "err", err, "account_id", accountID, "user_id", userID)
		}
	}
}

// reclaimUnverified removes an unverified registration (its owner and
// account, which holds no one else: nobody can invite or sign in before
// verifying), freeing its email. Nothing is removed when the user was
// verified meanwhile (the row is locked first), or when the account has
// another user (its owner signed in and invited while EMAIL_VERIFICATION
// was off); that is ErrConflict.
func (s *Service) reclaimUnverified(ctx context.Context, lu LoginUser) error {
	return s.registrations.inRegistrationTx(ctx, lu.AccountID, func(tx registrationTx) error {
		_, verified, _, err := tx.UserLockEmailVerified(ctx, lu.UserID)
		if errors.Is(err, ErrNotFound) {
			return nil // gone already
		}
		if err != nil {
			return err
		}
		if verified != nil {
			return ErrConflict
		}
		if err := tx.UserDelete(ctx, lu.UserID); err != nil {
			return err
		}
		// The account is deleted only when nobody else is in it (an
		// account whose owner signed in unverified while the setting was
		// off may have members): else nothing is reclaimed.
		if err := tx.AccountDelete(ctx); errors.Is(err, ErrNotFound) {
			return ErrConflict
		} else if err != nil {
			return err
		}
		s.log.InfoContext(ctx, "unverified registration reclaimed", "account_id", lu.AccountID, "user_id", lu.UserID)
		return nil
	})
}

var errVerificationPasswordMismatch = &Error{Code: CodeVerificationPasswordMismatch,
	Message: "this link belongs to a registration made with another password: register again with your password to get a new link"}

// VerifyEmail uses an email-verification token with the password of the
// registration it was mailed for: the user's email is verified and every
// other verification token of theirs spent. It does not sign in (the link
// may be opened on another device than the one signing in; a mailed link
// is no sign-in credential): the client signs in next.
//
// The password is the pre-hijacking defence (VER-08, docs/session-rules.md
// §9): without it, whoever registered the victim's address first — with a
// password of their choosing — would get the account verified by the
// victim's click, and sign in to it. The mailbox owner proves the mail
// reached them (the token) and that the registration is theirs (its
// password); a link of somebody else's registration is refused with
// CodeVerificationPasswordMismatch, and the owner registers again (which
// replaces that registration and mails a new link).
//
// The password is checked as a sign-in checks it: judged and counted on
// the email's brute-force counter (ThrottleKey; a wrong password is a
// failure there, audited as auth.login_failed), through the same hasher
// (shed when saturated: 503, nothing written). A wrong password does not
// spend the token: the registrant may retry a typo; the token is a 256-bit
// secret that only the mailbox holds, and guesses of the password are
// bounded by the counter.
// Errors: CodeInvalidVerificationToken, CodeVerificationPasswordMismatch,
// CodeRateLimited (*ThrottledError).
func (s *Service) VerifyEmail(ctx context.Context, token, password string, client Client) error {
	if token == "" {
		return errInvalidVerificationToken
	}
	hash := HashResetToken(token)
	accountID, err := s.registrations.EmailVerificationAccount(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return errInvalidVerificationToken
	}
	if err != nil {
		return err
	}
	userID, email, pwHash, err := s.verificationRegistration(ctx, accountID, hash)
	if err != nil {
		return err
	}
	key := ThrottleKey(email)
	throttle, err := s.throttleCheck(ctx, key, s.clock.Now())
	if err != nil {
		return err
	}
	ok, _, err := s.hasher.Verify(pwHash, password)
	if err != nil {
		return fmt.Errorf("verify password: %w", err)
	}
	if !ok {
		return s.verificationRefused(ctx, accountID, userID, key, client)
	}
	now := s.clock.Now()
	err = s.registrations.inVerifyTx(ctx, accountID, func(tx verifyTx) error {
		return s.markEmailVerified(ctx, tx, accountID, hash, userID, pwHash, password, client, now)
	})
	if errors.Is(err, errVerificationPasswordMismatch) {
		return s.verificationRefused(ctx, accountID, userID, key, client)
	}
	if err != nil {
		return err
	}
	if err := s.throttleSuccess(ctx, key, throttle); err != nil {
		s.log.WarnContext(ctx, "login throttle not reset", "err", err)
	}
	return nil
}

// verificationRegistration reads the registration a verification token is
// for, in a short transaction: no lock is held while the password is
// hashed. An unknown, used or expired token, or a user gone, is
// errInvalidVerificationToken.
func (s *Service) verificationRegistration(ctx context.Context, accountID uuid.UUID, hash []byte) (userID uuid.UUID, email, pwHash string, err error) {
	err = s.registrations.inVerifyTx(ctx, accountID, func(tx verifyTx) error {
		t, err := tx.EmailVerificationTokenLock(ctx, hash)
		if errors.Is(err, ErrNotFound) {
			return errInvalidVerificationToken
		}
		if err != nil {
			return err
		}
		if !t.Usable(s.clock.Now()) {
			return errInvalidVerificationToken
		}
		userID = t.UserID
		if email, _, _, err = tx.UserLockEmailVerified(ctx, t.UserID); errors.Is(err, ErrNotFound) {
			return errInvalidVerificationToken
		} else if err != nil {
			return err
		}
		pwHash, _, err = tx.UserLockCredentials(ctx, t.UserID)
		return err
	})
	return userID, email, pwHash, err
}

// markEmailVerified is VerifyEmail's write, under the locks of the token
// and the user: the token still usable and the registration's, the
// password checked again if the hash changed since pwHash was read
// (errVerificationPasswordMismatch), every token consumed, and, unless it
// was already, the email marked verified and audited.
func (s *Service) markEmailVerified(ctx context.Context, tx verifyTx, accountID uuid.UUID, hash []byte, userID uuid.UUID,
	pwHash, password string, client Client, now time.Time) error {
	t, err := tx.EmailVerificationTokenLock(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return errInvalidVerificationToken
	}
	if err != nil {
		return err
	}
	if !t.Usable(now) || t.UserID != userID {
		return errInvalidVerificationToken
	}
	_, verified, _, err := tx.UserLockEmailVerified(ctx, t.UserID)
	if errors.Is(err, ErrNotFound) {
		return errInvalidVerificationToken
	}
	if err != nil {
		return err
	}
	// The password checked before must still be the registration's (under
	// the row lock now): a changed hash is checked again.
	locked, _, err := tx.UserLockCredentials(ctx, t.UserID)
	if err != nil {
		return err
	}
	if locked != pwHash {
		ok, _, err := s.hasher.Verify(locked, password)
		if err != nil {
			return fmt.Errorf("verify password: %w", err)
		}
		if !ok {
			return errVerificationPasswordMismatch
		}
	}
	if err := tx.EmailVerificationTokensConsume(ctx, t.UserID, now); err != nil {
		return err
	}
	if verified != nil {
		return nil // verified already (another of its mails): nothing changes
	}
	if err := tx.UserSetEmailVerified(ctx, t.UserID, now); err != nil {
		return err
	}
	return tx.Audit(ctx, s.event(accountID, &t.UserID, ActionEmailVerified, "user", t.UserID.String(), nil, client, now))
}

// verificationRefused records a verification with the wrong password as a
// failed sign-in of the email (its counter and an auth.login_failed event,
// in one round trip) and answers CodeVerificationPasswordMismatch. The
// token is not spent.
func (s *Service) verificationRefused(ctx context.Context, accountID, userID uuid.UUID, key []byte, client Client) error {
	now := s.clock.Now()
	s.log.InfoContext(ctx, "email verification refused", "reason", "verification_password_mismatch", "account_id", accountID, "user_id", userID)
	e := s.event(accountID, &userID, ActionLoginFailed, "user", userID.String(),
		map[string]any{"reason": "verification_password_mismatch"}, client, now)
	if err := s.recordFailure(ctx, [][]byte{key}, &e, now); err != nil {
		return err
	}
	return errVerificationPasswordMismatch
}

// ResendVerification mails a new verification link to the address when it
// is an unverified registration's. It answers nil whatever the address
// and does the same request work either way (as RequestPasswordReset):
// the lookup and one round trip on the address's mail rate; the token,
// its audit event and the mail are deferred. At most one mail per interval
// of the mail rate (Config.ResetMail).
func (s *Service) ResendVerification(ctx context.Context, email string, client Client) error {
	email = NormalizeEmail(email)
	token := newSecret()
	var (
		lu  LoginUser
		err error = ErrNotFound
	)
	if !strings.ContainsRune(email, 0) {
		lu, err = s.registrations.UserForLogin(ctx, email)
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	pending := err == nil && !lu.EmailVerified && lu.Active
	now := s.clock.Now()
	before, after, err := s.registrations.RecordResetRequest(ctx, ResetRequestRecord{Key: VerifyMailKey(email), Now: now, Rule: s.cfg.ResetMail})
	if err != nil {
		return err
	}
	mail := s.cfg.ResetMail.counted(before, after, now)
	if !pending || !mail {
		s.log.InfoContext(ctx, "verification not resent", "reason", "not_pending_or_inside_interval")
		return nil
	}
	work := func(ctx context.Context) {
		expires := now.Add(s.cfg.VerificationTTL)
		err := s.registrations.inRegistrationTx(ctx, lu.AccountID, func(tx registrationTx) error {
			if err := tx.EmailVerificationTokenCreate(ctx, PasswordResetToken{Hash: HashResetToken(token), UserID: lu.UserID, CreatedAt: now, ExpiresAt: expires}); err != nil {
				return err
			}
			return tx.Audit(ctx, s.event(lu.AccountID, &lu.UserID, ActionVerificationRequested, "user", lu.UserID.String(),
				map[string]any{"expires_at": expires.UTC().Format(time.RFC3339)}, client, now))
		})
		if err != nil {
			s.log.ErrorContext(ctx, "verification resend not recorded", "err", err, "account_id", lu.AccountID)
			return
		}
		s.sendVerification(ctx, lu.AccountID, lu.UserID, email, token, expires, true)
	}
	if d, ok := s.mailer.(Deferrer); ok {
		if err := d.Defer(work); err != nil {
			s.log.ErrorContext(ctx, "verification resend not recorded", "err", err)
		}
		return nil
	}
	work(ctx)
	return nil
}

// verifiedByMail marks the user's email verified, in the caller's tenant
// transaction, when a token mailed to the address other than a
// verification link was used (a password reset): the mail reached its
// owner, which is all a verification link proves. Without it, the owner of
// an unverified registration who resets its password would still be
// refused with email_not_verified; and whoever reads the mailbox, not
// whoever registered the address first, ends up holding the password.
// Nothing changes (and nothing is recorded) for a verified user.
func (s *Service) verifiedByMail(ctx context.Context, tx mailVerifiedTx, accountID, userID uuid.UUID, client Client, now time.Time) error {
	_, verified, _, err := tx.UserLockEmailVerified(ctx, userID)
	if err != nil || verified != nil {
		return err
	}
	if err := tx.UserSetEmailVerified(ctx, userID, now); err != nil {
		return err
	}
	if err := tx.EmailVerificationTokensConsume(ctx, userID, now); err != nil {
		return err
	}
	return tx.Audit(ctx, s.event(accountID, &userID, ActionEmailVerified, "user", userID.String(),
		map[string]any{"by": "password_reset"}, client, now))
}

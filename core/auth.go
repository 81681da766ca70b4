package core

// Authentication: sign-up, sign-in, access-token verification, sign-out
// and the caller's profile (adapters/http/auth.go).

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// RegisterInput is a sign-up: a new account and its owner.
type RegisterInput struct {
	NewUser
	AccountName string
}

// Register creates an account (tenant) and its owner. It does not sign in.
// With email verification required (the default) the answer is a pending
// Registration whatever the email (verification.go, registerPending);
// without, the created owner, or CodeEmailTaken.
// Errors: CodeValidation, CodeEmailTaken (verification off).
func (s *Service) Register(ctx context.Context, in RegisterInput, client Client) (Registration, error) {
	u := in.NewUser.normalized()
	if err := u.Validate(); err != nil {
		return Registration{}, err
	}
	accountName := strings.TrimSpace(in.AccountName)
	if err := validateName("account_name", accountName); err != nil {
		return Registration{}, err
	}
	hash, err := s.hasher.Hash(in.Password)
	if err != nil {
		return Registration{}, fmt.Errorf("hash password: %w", err)
	}
	now := s.clock.Now()
	acct := Account{ID: uuid.New(), Name: accountName, CreatedAt: now}
	user := User{ID: uuid.New(), AccountID: acct.ID, Email: u.Email, Name: u.Name, Role: RoleOwner, Active: true, CreatedAt: now}
	if s.cfg.EmailVerification {
		return s.registerPending(ctx, acct, user, hash, client)
	}
	err = s.registrations.inRegistrationTx(ctx, acct.ID, func(tx registrationTx) error {
		if err := tx.AccountCreate(ctx, acct); err != nil {
			return err
		}
		if err := tx.UserCreate(ctx, user, hash); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(acct.ID, &user.ID, ActionAccountCreated, "account", acct.ID.String(),
			map[string]any{"owner_user_id": user.ID.String()}, client, now))
	})
	if err != nil {
		return Registration{}, userCreateError(err)
	}
	return Registration{User: user}, nil
}

// Login signs a user in with email and password from a client without a
// device token (SignIn).
func (s *Service) Login(ctx context.Context, email, password string, client Client) (TokenPair, error) {
	return s.SignIn(ctx, SignInRequest{Email: email, Password: password}, client)
}

// SignInRequest is a sign-in: the credentials and, when the client has
// one, the device token an earlier successful sign-in gave it.
type SignInRequest struct {
	Email, Password string
	DeviceToken     string
}

// SignIn signs a user in with email and password and opens a session on the
// caller's device. Every failure is the same CodeInvalidCredentials, and
// the password hasher runs exactly once whether or not the user exists.
//
// Brute force (LGN-05/06/09, docs/security-checklist.md): the attempt is
// judged on the counter of the client's device token when it presents a
// valid one for this email, else on the email's counter, which every other client
// shares — so an attacker guessing from anywhere locks the email for
// themselves and other unknown clients, never for the owner's known
// devices. A failure costs the same database work for a known and an
// unknown email (LGN-10): the counter and, for a known email, the audit
// row are one transaction sent in one round trip. A success issues a fresh
// device token (TokenPair.DeviceToken).
func (s *Service) SignIn(ctx context.Context, in SignInRequest, client Client) (TokenPair, error) {
	email := NormalizeEmail(in.Email)
	key := s.signInKey(email, in.DeviceToken, s.clock.Now())
	// Checked before the lookup and the hash, so a throttled known and
	// unknown email answer alike, and cheaply.
	throttle, err := s.throttleCheck(ctx, key, s.clock.Now())
	if err != nil {
		return TokenPair{}, err
	}
	lu, newHash, now, err := s.checkSignInPassword(ctx, email, in.Password, key, client)
	if err != nil {
		return TokenPair{}, err
	}
	opened, challenge, err := s.signInTx(ctx, lu, newHash, client, now)
	if err != nil {
		return TokenPair{}, err
	}
	if err := s.throttleSuccess(ctx, key, throttle); err != nil {
		// The session (or challenge) exists: answer with it; the stale
		// count only shortens the next budget.
		s.log.WarnContext(ctx, "login throttle not reset", "err", err)
	}
	if challenge != nil {
		// The password was right; the second factor has its own counter
		// (MFAThrottleKey). No device token yet: that needs the factor too.
		return TokenPair{MFAChallenge: challenge}, nil
	}
	return s.signedIn(lu, opened, email, now)
}

// checkSignInPassword is the credential step of SignIn: the lookup, the
// one hash (VerifyDummy for an unknown email), the failure recorded on the
// counter key (with its audit row for a known email, LGN-10), the
// verified-email rule, and a rehash when the stored hash is weaker than
// today's (newHash, "" when none). Every failure is errInvalidCredentials,
// after the password was right errEmailNotVerified, or the hasher's shed.
func (s *Service) checkSignInPassword(ctx context.Context, email, password string, key []byte, client Client) (lu LoginUser, newHash string, now time.Time, err error) {
	if strings.ContainsRune(email, 0) {
		// No stored email has a NUL (PostgreSQL text cannot hold one), so
		// this is an unknown email, answered like any other.
		err = ErrNotFound
	} else {
		lu, err = s.signIns.UserForLogin(ctx, email)
	}
	if errors.Is(err, ErrNotFound) {
		if err := s.hasher.VerifyDummy(password); err != nil {
			return LoginUser{}, "", time.Time{}, err // shed, as Verify would be for a known email
		}
		s.log.InfoContext(ctx, "login failed", "reason", "unknown_email")
		if err := s.recordFailure(ctx, [][]byte{key}, nil, s.clock.Now()); err != nil {
			return LoginUser{}, "", time.Time{}, err
		}
		return LoginUser{}, "", time.Time{}, errInvalidCredentials
	}
	if err != nil {
		return LoginUser{}, "", time.Time{}, err
	}
	ok, rehash, err := s.hasher.Verify(lu.PasswordHash, password)
	if err != nil {
		return LoginUser{}, "", time.Time{}, fmt.Errorf("verify password: %w", err)
	}
	now = s.clock.Now()
	if !ok || !lu.Active {
		reason := "wrong_password"
		if ok {
			reason = "inactive_user"
		}
		s.log.InfoContext(ctx, "login failed", "reason", reason, "account_id", lu.AccountID, "user_id", lu.UserID)
		e := s.event(lu.AccountID, &lu.UserID, ActionLoginFailed, "user", lu.UserID.String(), map[string]any{"reason": reason}, client, now)
		if err := s.recordFailure(ctx, [][]byte{key}, &e, now); err != nil {
			return LoginUser{}, "", time.Time{}, err
		}
		return LoginUser{}, "", time.Time{}, errInvalidCredentials
	}
	if s.cfg.EmailVerification && !lu.EmailVerified {
		// Only after the correct password, so it tells nothing to a guesser.
		s.log.InfoContext(ctx, "login refused", "reason", "email_not_verified", "account_id", lu.AccountID, "user_id", lu.UserID)
		return LoginUser{}, "", time.Time{}, errEmailNotVerified
	}
	if rehash {
		if newHash, err = s.hasher.Hash(password); err != nil {
			return LoginUser{}, "", time.Time{}, fmt.Errorf("rehash password: %w", err)
		}
	}
	return lu, newHash, now, nil
}

// signInTx is SignIn's tenant transaction, after the password was right:
// the policy and whether the user has a second factor (one round trip),
// the upgraded hash when there is one, then a challenge for a user with a
// confirmed factor (docs/session-rules.md §11) or the session.
func (s *Service) signInTx(ctx context.Context, lu LoginUser, newHash string, client Client, now time.Time) (openedSession, *MFAChallengeIssued, error) {
	authTime := now.Truncate(time.Second) // auth_time travels as Unix seconds
	var (
		opened    openedSession
		challenge *MFAChallengeIssued
	)
	err := s.signIns.inSignInTx(ctx, lu.AccountID, func(tx signInTx) error {
		override, hasFactor, err := tx.AccountPolicyForSignIn(ctx, lu.UserID)
		if err != nil {
			return err
		}
		if newHash != "" {
			if err := tx.UserSetPasswordHash(ctx, lu.UserID, newHash, now); err != nil {
				return err
			}
		}
		if hasFactor {
			challenge, err = s.issueChallenge(ctx, tx, lu, client, now)
			return err
		}
		auth := AuthLevel{AAL: 1, AMR: []string{AMRPassword}, LastAuthAt: authTime,
			EnrolOnly: s.cfg.Policy.Effective(override).MFARequiredFor(lu.Role)}
		opened, err = s.openSession(ctx, tx, lu, override, auth, client, now,
			map[string]any{"device_id": client.DeviceID, "hash_upgraded": newHash != "", "mfa_enrol_only": auth.EnrolOnly})
		return err
	})
	return opened, challenge, err
}

// signedIn is the answer to every successful sign-in (password, second
// factor, accepted invitation): the opened session's token pair and a
// fresh device token for email (LGN-09).
func (s *Service) signedIn(lu LoginUser, opened openedSession, email string, now time.Time) (TokenPair, error) {
	pair, err := s.sessionTokens(lu, opened, now)
	if err != nil {
		return TokenPair{}, err
	}
	device := DeviceClaims{ID: newSecret(), EmailDigest: DeviceEmailDigest(email), IssuedAt: now, ExpiresAt: now.Add(s.cfg.DeviceTTL)}
	if pair.DeviceToken, err = s.tokens.SignDevice(device); err != nil {
		return TokenPair{}, fmt.Errorf("sign device token: %w", err)
	}
	pair.DeviceExpiresAt = device.ExpiresAt
	return pair, nil
}

// openedSession is a session created by openSession, with the raw jti of
// its first refresh token.
type openedSession struct {
	sess NewSession
	jti  string
}

// openSession is the one way a session is created (sign-in, the second
// step of a sign-in with a second factor, an accepted invitation): inside the tenant
// transaction tx, it admits the session (session_limit.go: user lock,
// still active, session limit), snapshots the policy, writes the row and
// records auth.login_succeeded with details.
func (s *Service) openSession(ctx context.Context, tx sessionOpenTx, lu LoginUser, override PolicyOverride, auth AuthLevel,
	client Client, now time.Time, details map[string]any) (openedSession, error) {
	sess := NewSession{
		ID:         uuid.New(),
		UserID:     lu.UserID,
		DeviceName: s.device(client.UserAgent),
		Client:     client,
		AuthTime:   auth.LastAuthAt,
		Now:        now,
		Auth:       auth,
	}
	jti := NewJTI()
	sess.JTIHash = HashJTI(jti)
	if err := s.admitSession(ctx, tx, lu, override, sess.ID, client, now); err != nil {
		return openedSession{}, err
	}
	sess.Snapshot = s.cfg.Policy.Effective(override).Snapshot()
	sess.AbsoluteExpiresAt = sess.AuthTime.Add(sess.Snapshot.Absolute())
	sess.TokenExpiresAt = IdleDeadline(now.Add(sess.Snapshot.Idle()), sess.AbsoluteExpiresAt)
	sess.IdleExpiresAt = sess.TokenExpiresAt
	if err := tx.SessionCreate(ctx, sess); err != nil {
		return openedSession{}, err
	}
	if details == nil {
		details = map[string]any{}
	}
	details["aal"], details["amr"] = auth.AAL, auth.Methods()
	if err := tx.Audit(ctx, s.event(lu.AccountID, &lu.UserID, ActionLoginSucceeded, "session", sess.ID.String(), details, client, now)); err != nil {
		return openedSession{}, err
	}
	return openedSession{sess: sess, jti: jti}, nil
}

// sessionTokens signs the first token pair of a session openSession made.
func (s *Service) sessionTokens(lu LoginUser, o openedSession, now time.Time) (TokenPair, error) {
	sess := o.sess
	authTime := sess.AuthTime
	refresh := RefreshClaims{
		Subject: lu.UserID, SessionID: sess.ID, AccountID: lu.AccountID, JTI: o.jti,
		IssuedAt: now, ExpiresAt: sess.TokenExpiresAt,
		AuthTime: &authTime, IdleMax: sess.Snapshot.IdleSeconds, AbsMax: sess.Snapshot.AbsoluteSeconds,
	}
	return s.issue(lu.AccountID, lu.Role, sess.Auth, refresh, sess.IdleExpiresAt, sess.AbsoluteExpiresAt, now)
}

// signInKey is the brute-force counter a sign-in is judged on: the device
// token's own when the client presents a valid one issued for this email,
// else the email's (LGN-09). A token that does not verify, has expired or
// names another email counts as none.
func (s *Service) signInKey(email, deviceToken string, now time.Time) []byte {
	if deviceToken != "" {
		d, err := s.tokens.VerifyDevice(deviceToken, now)
		if err == nil && d.ID != "" && subtle.ConstantTimeCompare(d.EmailDigest, DeviceEmailDigest(email)) == 1 {
			return DeviceThrottleKey(d.ID)
		}
	}
	return ThrottleKey(email)
}

// Logout ends the caller's current session and, when a refresh token of
// the caller's is given, that token's session too. A given refresh token
// that is not the caller's — another user's or tenant's, or one that does
// not verify — is ignored: the caller's own session ends all the same,
// and the audit row of that logout says a token was ignored (REV-06,
// docs/security-checklist.md). Signing out never fails because of a token
// mix-up, which would leave the caller signed in believing they are not;
// another user's session is not the caller's to end. Idempotent: the
// caller's session may have ended already, so it takes a Bearer and checks
// no liveness.
func (s *Service) Logout(ctx context.Context, b Bearer, rawRefresh string, client Client) error {
	p := b.claimed
	ids := []uuid.UUID{p.SessionID}
	ignored := false
	if rawRefresh != "" {
		rc, err := s.tokens.VerifyRefresh(rawRefresh)
		switch {
		case err != nil, rc.Subject != p.UserID, rc.AccountID != uuid.Nil && rc.AccountID != p.AccountID:
			ignored = true
		case rc.SessionID != p.SessionID:
			ids = append(ids, rc.SessionID)
		}
	}
	if ignored {
		s.log.InfoContext(ctx, "logout: refresh token ignored", "reason", "not_the_callers",
			"account_id", p.AccountID, "user_id", p.UserID, "session_id", p.SessionID)
	}
	now := s.clock.Now()
	return s.ownSessions.inOwnSessionTx(ctx, p.AccountID, func(tx ownSessionTx) error {
		for _, id := range ids {
			owner, err := tx.SessionOwner(ctx, id)
			if errors.Is(err, ErrNotFound) || (err == nil && owner != p.UserID) {
				continue
			}
			if err != nil {
				return err
			}
			changed, err := tx.SessionRevoke(ctx, id, now, ReasonLogout)
			if err != nil {
				return err
			}
			if changed {
				var details map[string]any
				if ignored && id == p.SessionID {
					details = map[string]any{"foreign_refresh_ignored": true}
				}
				if err := tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionLogout, "session", id.String(), details, client, now)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// LogoutAll ends every session of the caller, the current one included.
// The session's liveness is checked in the transaction's first round trip
// (CodeInvalidToken when it has ended; nothing is revoked then).
func (s *Service) LogoutAll(ctx context.Context, b Bearer, client Client) (int64, error) {
	now := s.clock.Now()
	p := b.claimed
	var n int64
	err := bearerTx(ctx, s.ownSessions, b, now, func(tx ownSessionTx) error {
		var err error
		if n, err = tx.SessionRevokeAllForUser(ctx, p.UserID, nil, now, ReasonLogoutAll); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionLogoutAll, "user", p.UserID.String(),
			map[string]any{"revoked_count": n}, client, now))
	})
	return n, err
}

// Me returns the caller's profile, in one round trip: the user row only
// while the bearer's session is live (CodeInvalidToken otherwise, as for a
// token whose subject is not a user of its tenant: it identifies nobody).
func (s *Service) Me(ctx context.Context, b Bearer) (User, error) {
	p := b.claimed
	u, err := s.bearers.UserIfSessionLive(ctx, p.AccountID, p.SessionID, p.UserID, s.clock.Now())
	if errors.Is(err, ErrNotFound) {
		return User{}, errSessionEnded
	}
	return u, err
}

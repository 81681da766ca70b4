package core

// Who is calling: a verified access token (Bearer) and, once its session
// is known to be live, the Principal most use cases take.

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Bearer is the caller of an authenticated request as its verified access
// token names them (signature, type, issuer, audience, expiry checked),
// before anything checked that the token's session is still live
// (JWT-09). Only core makes one (Service.VerifyBearer), and only two kinds
// of use case accept one:
//   - those that check the session's liveness themselves in their own first
//     round trip (Me, ListSessions, RevokeSession, LogoutAll), so that the
//     request costs one round trip, not two;
//   - Logout, which must work for a session that has already ended (it is
//     idempotent).
//
// Every other use case takes a Principal, which only Service.RequireLive
// turns a Bearer into: an operation added later is safe by default.
type Bearer struct {
	claimed Principal
}

// AccountID is the tenant the token names: for checks that need no
// liveness (a tenant header that disagrees, JWT-08).
func (b Bearer) AccountID() uuid.UUID { return b.claimed.AccountID }

// EnrolOnly reports whether the token is of an enrol-only session
// (docs/session-rules.md §11).
func (b Bearer) EnrolOnly() bool { return b.claimed.EnrolOnly }

// VerifyBearer verifies an access token without any store call. Failures
// are CodeInvalidToken.
func (s *Service) VerifyBearer(_ context.Context, rawToken string) (Bearer, error) {
	c, err := s.tokens.VerifyAccess(rawToken, s.clock.Now())
	if err != nil {
		return Bearer{}, err
	}
	return Bearer{claimed: Principal{UserID: c.Subject, AccountID: c.AccountID, SessionID: c.SessionID, Role: c.Role, EnrolOnly: c.EnrolOnly}}, nil
}

// RequireLive checks, in one round trip, that the bearer's session is live
// (not revoked, neither deadline passed) and returns the caller as a
// Principal, so that revocation bites at once (JWT-09). A session that
// ended is CodeInvalidToken.
func (s *Service) RequireLive(ctx context.Context, b Bearer) (Principal, error) {
	p := b.claimed
	live, err := s.bearers.SessionIsLive(ctx, p.AccountID, p.SessionID, s.clock.Now())
	if err != nil {
		return Principal{}, err
	}
	if !live {
		return Principal{}, errSessionEnded
	}
	return p, nil
}

// errSessionEnded answers an access token whose session is no longer live.
var errSessionEnded = &Error{Code: CodeInvalidToken, Message: "session has ended"}

// bearerTx runs fn in the bearer's own-session transaction once its first
// round trip found the session live; fn does not run when it has ended
// (errSessionEnded).
func bearerTx(ctx context.Context, st ownSessionStore, b Bearer, now time.Time, fn func(ownSessionTx) error) error {
	err := st.inLiveOwnSessionTx(ctx, b.claimed.AccountID, b.claimed.SessionID, now, fn)
	if errors.Is(err, ErrSessionNotLive) {
		return errSessionEnded
	}
	return err
}

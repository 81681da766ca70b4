package core

// The caller's own sessions, one per device: list them, sign one out
// (adapters/http/sessions.go).

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// errSessionNotFound is the one answer for a session the caller may not
// revoke: unknown, another user's, another tenant's (invisible by row-level
// security, so the same thing), or already ended. One answer, so the
// endpoint is no oracle for which session ids exist (REV-03).
var errSessionNotFound = &Error{Code: CodeNotFound, Message: "session not found"}

// ListSessions returns the caller's live sessions, most recently used
// first, marking the one the caller's access token belongs to.
//
// It is one round trip, and checks the bearer's liveness itself: the
// caller's own session is one of the user's sessions, listed exactly when
// it is live, so a list without it means the session has ended
// (CodeInvalidToken) and nothing is returned.
func (s *Service) ListSessions(ctx context.Context, b Bearer) ([]SessionInfo, error) {
	p := b.claimed
	out, err := s.bearers.SessionListLive(ctx, p.AccountID, p.UserID, s.clock.Now())
	if err != nil {
		return nil, err
	}
	current := false
	for i := range out {
		out[i].Current = out[i].ID == p.SessionID
		current = current || out[i].Current
	}
	if !current {
		return nil, errSessionEnded
	}
	return out, nil
}

// RevokeSession ends one of the caller's own sessions (signs that device
// out): its refresh tokens stop working and, because authenticated requests
// check session liveness, so do its access tokens. It needs a recent
// authentication (RequireRecentAuth). The current session is refused with
// CodeCannotRevokeCurrent (400; REV-03): logout ends it. Errors:
// CodeNotFound, the same for every other session the caller may not revoke
// (see errSessionNotFound), CodeReauthRequired.
//
// The bearer's liveness is checked in the transaction's first round trip.
func (s *Service) RevokeSession(ctx context.Context, b Bearer, sessionID uuid.UUID, client Client) error {
	p := b.claimed
	if sessionID == p.SessionID {
		return errCannotRevokeCurrent // REV-03: logout ends the current session
	}
	now := s.clock.Now()
	return bearerTx(ctx, s.ownSessions, b, now, func(tx ownSessionTx) error {
		if err := s.RequireRecentAuth(ctx, tx, p); err != nil {
			return err
		}
		return s.revokeSession(ctx, tx, p, sessionID, true, client, now)
	})
}

// revokeSession ends one session inside the caller's tenant transaction
// and records session.revoked. ownOnly: the caller ends one of their own
// sessions (ReasonRevokedByUser); otherwise an owner ends any session of
// the account (ReasonRevokedByOwner), and the event names whose it was.
// One answer, errSessionNotFound, for a session that is unknown, another
// tenant's (invisible, so the same thing), not the caller's to end, or
// already ended.
func (s *Service) revokeSession(ctx context.Context, tx sessionRevokeTx, p Principal, sessionID uuid.UUID, ownOnly bool, client Client, now time.Time) error {
	// SECURITY: the tenant transaction already hides other tenants'
	// sessions; with ownOnly the owner check hides other users' sessions of
	// this tenant.
	owner, err := tx.SessionOwner(ctx, sessionID)
	if errors.Is(err, ErrNotFound) || (err == nil && ownOnly && owner != p.UserID) {
		return errSessionNotFound
	}
	if err != nil {
		return err
	}
	reason, details := ReasonRevokedByUser, map[string]any{"current": sessionID == p.SessionID}
	if !ownOnly {
		reason, details["user_id"] = ReasonRevokedByOwner, owner.String()
	}
	details["reason"] = reason
	revoked, err := tx.SessionRevoke(ctx, sessionID, now, reason)
	if err != nil {
		return err
	}
	if !revoked {
		return errSessionNotFound
	}
	return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionSessionRevoked, "session", sessionID.String(), details, client, now))
}

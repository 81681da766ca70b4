package core

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// The per-user session limit (docs/session-rules.md §2): part of an account's policy, how
// many live sessions one user may hold, and what a sign-in beyond it does.

// SessionLimitAction is what a sign-in beyond the limit does.
type SessionLimitAction string

const (
	// SessionLimitEvictOldest (the default): the sign-in succeeds and the
	// user's least recently used live sessions beyond the limit are
	// revoked (reason "evicted", audited session.evicted).
	SessionLimitEvictOldest SessionLimitAction = "evict_oldest"
	// SessionLimitDeny: the sign-in is refused (CodeSessionLimitReached)
	// and no session is created.
	SessionLimitDeny SessionLimitAction = "deny"
)

// Valid reports whether a is a known action.
func (a SessionLimitAction) Valid() bool {
	return a == SessionLimitEvictOldest || a == SessionLimitDeny
}

// Bounds of max_sessions_per_user (the database CHECKs the same range).
const (
	MaxSessionsPerUserMin = 1
	MaxSessionsPerUserMax = 100
)

// EffectiveSessionLimitAction is the action in force: the stored one, or
// the default.
func (o PolicyOverride) EffectiveSessionLimitAction() SessionLimitAction {
	if o.SessionLimitAction == "" {
		return SessionLimitEvictOldest
	}
	return o.SessionLimitAction
}

// validateSessionLimit checks the limit fields of a policy, naming the
// field, like ValidateOverride does for the timeouts.
func validateSessionLimit(o PolicyOverride) error {
	if m := o.MaxSessionsPerUser; m != nil && (*m < MaxSessionsPerUserMin || *m > MaxSessionsPerUserMax) {
		return FieldError(CodePolicyOutOfBounds, "max_sessions_per_user",
			"max_sessions_per_user must be between %d and %d (got %d)", MaxSessionsPerUserMin, MaxSessionsPerUserMax, *m)
	}
	if a := o.SessionLimitAction; a != "" && !a.Valid() {
		return FieldError(CodeValidation, "session_limit_action",
			"session_limit_action must be %q or %q", SessionLimitEvictOldest, SessionLimitDeny)
	}
	return nil
}

var errSessionLimitReached = &Error{Code: CodeSessionLimitReached,
	Message: "this user already has the maximum number of active sessions; sign out elsewhere first"}

// admitSession is the sign-in transaction's gate before it creates session
// newSessionID for user lu under policy:
//
//   - it locks the user's row, so concurrent sign-ins of one user pass here
//     one at a time and each counts the sessions the previous one left;
//   - under that lock it re-reads the user: a user deactivated or removed
//     after the pre-tenant lookup is refused with the generic sign-in
//     failure, so no session is ever created for them;
//   - it applies the session limit: with "deny", a user already at the
//     limit is refused (CodeSessionLimitReached, the transaction rolls
//     back: no session); with "evict_oldest", the least recently used live
//     sessions beyond limit-1 are revoked (the new one makes limit), each
//     audited session.evicted in this transaction.
func (s *Service) admitSession(ctx context.Context, tx sessionOpenTx, lu LoginUser, policy PolicyOverride, newSessionID uuid.UUID, client Client, now time.Time) error {
	active, err := tx.UserLockForSignIn(ctx, lu.UserID)
	if errors.Is(err, ErrNotFound) || (err == nil && !active) {
		s.log.InfoContext(ctx, "login failed", "reason", "inactive_user", "account_id", lu.AccountID, "user_id", lu.UserID)
		return errInvalidCredentials
	}
	if err != nil {
		return err
	}
	if policy.MaxSessionsPerUser == nil {
		return nil
	}
	limit := *policy.MaxSessionsPerUser
	switch policy.EffectiveSessionLimitAction() {
	case SessionLimitDeny:
		n, err := tx.SessionCountLive(ctx, lu.UserID, now)
		if err != nil {
			return err
		}
		if n >= limit {
			s.log.InfoContext(ctx, "login refused", "reason", "session_limit_reached",
				"account_id", lu.AccountID, "user_id", lu.UserID, "limit", limit)
			return errSessionLimitReached
		}
		return nil
	default:
		evicted, err := tx.SessionEvictBeyond(ctx, lu.UserID, max(limit-1, 0), now, ReasonEvicted)
		if err != nil {
			return err
		}
		for _, id := range evicted {
			if err := tx.Audit(ctx, s.event(lu.AccountID, &lu.UserID, ActionSessionEvicted, "session", id.String(),
				map[string]any{
					"user_id": lu.UserID.String(), "reason": ReasonEvicted,
					"max_sessions_per_user": limit, "new_session_id": newSessionID.String(),
				}, client, now)); err != nil {
				return err
			}
		}
		return nil
	}
}

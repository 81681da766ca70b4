package core

import (
	"bytes"
	"time"
)

// NotBeforeLeeway is the clock skew allowed for a refresh token's nbf, the
// same as for access tokens (adapters/jose).
const NotBeforeLeeway = 30 * time.Second

// RefreshOutcome is what a refresh attempt leads to.
type RefreshOutcome int

const (
	// RefreshRotate: the presented token is the current one; issue its
	// successor.
	RefreshRotate RefreshOutcome = iota + 1
	// RefreshConverge: the presented token is the immediate parent of the
	// current one, replayed inside the grace window (two tabs, a lost
	// response); answer with the current token, do not rotate again.
	RefreshConverge
	// RefreshReject: refuse with Code; RevokeFamily says whether the whole
	// session must be revoked as part of the refusal.
	RefreshReject
)

// RefreshInput is everything the refresh decision looks at.
type RefreshInput struct {
	Now           time.Time
	Claims        RefreshClaims // verified signature; expiry not yet judged
	PresentedHash []byte        // HashJTI(Claims.JTI)
	Family        FamilyState   // the session row, locked
	// Current is the account's policy in force now; used only for legacy
	// tokens, whose successor is snapshotted from it (grandfather path).
	Current EffectivePolicy
	// Grace is how long after a rotation a replay of the parent converges;
	// 0 disables.
	Grace time.Duration
}

// RefreshDecision is the pure outcome of a refresh attempt.
type RefreshDecision struct {
	Outcome      RefreshOutcome
	Code         Code   // set when Outcome is RefreshReject
	RevokeFamily bool   // revoke the session and all its tokens
	RevokeReason string // stored on the session when RevokeFamily

	// For RefreshRotate: the successor's snapshot and the session's new
	// deadlines.
	AuthTime          time.Time
	Snapshot          Snapshot
	IdleExpiresAt     time.Time
	AbsoluteExpiresAt time.Time
	TokenExpiresAt    time.Time
}

func reject(code Code) RefreshDecision { return RefreshDecision{Outcome: RefreshReject, Code: code} }

func revokeFamily(code Code, reason string) RefreshDecision {
	return RefreshDecision{Outcome: RefreshReject, Code: code, RevokeFamily: true, RevokeReason: reason}
}

// DecideRefresh applies the session-policy rules of SPEC §3 to one refresh
// attempt. It reads the token's signed claims and the locked session row;
// where they disagree, the stricter wins.
//
// The order matters:
//  1. A revoked family, an inactive user, claims that do not match the
//     row, or a token not valid yet (nbf after now + NotBeforeLeeway) are
//     plainly invalid.
//  2. A token that is neither current nor the immediate parent is an older
//     ancestor: reuse, so the family is revoked (theft signal).
//  3. The absolute cap: refused when now ≥ auth_time + abs_max (≥: the
//     deadline instant itself is already past the window, matching JWT exp
//     semantics). The token is consumed with its family, so a replay of it
//     gets invalid_refresh_token.
//  4. The immediate parent replayed after the grace window is reuse, even
//     past its own exp (RT-02: a theft signal either way).
//  5. Idle expiry: now ≥ exp (or the row's idle deadline). Inside the
//     window, an unexpired parent converges on the current token.
//  6. The current token rotates; the snapshot is carried forward unchanged
//     (the absolute window never slides), except for a legacy token, which
//     gets one rotation with claims snapshotted from the current policy.
func DecideRefresh(in RefreshInput) RefreshDecision {
	f, c, now := in.Family, in.Claims, in.Now

	if f.RevokedAt != nil || !f.UserActive || c.Subject != f.UserID || c.SessionID != f.SessionID {
		return reject(CodeInvalidRefreshToken)
	}
	if !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(NotBeforeLeeway)) {
		return reject(CodeInvalidRefreshToken)
	}
	isCurrent := bytes.Equal(in.PresentedHash, f.CurrentJTIHash)
	isParent := !isCurrent && len(f.PreviousJTIHash) > 0 && bytes.Equal(in.PresentedHash, f.PreviousJTIHash)
	if !isCurrent && !isParent {
		return revokeFamily(CodeRefreshTokenReused, ReasonRefreshReuse)
	}

	absDeadline := f.AbsoluteExpiresAt
	if !c.Legacy() {
		absDeadline = earliest(absDeadline, c.AuthTime.Add(time.Duration(c.AbsMax)*time.Second))
	}
	if !now.Before(absDeadline) {
		return revokeFamily(CodeSessionExpiredAbsolute, ReasonAbsoluteTimeout)
	}

	if isParent {
		if in.Grace == 0 || f.RotatedAt == nil || !now.Before(f.RotatedAt.Add(in.Grace)) {
			// Outside the window a spent parent is a theft signal, whatever
			// its own exp says (RT-02).
			return revokeFamily(CodeRefreshTokenReused, ReasonRefreshReuse)
		}
	}

	idleDeadline := f.IdleExpiresAt
	if !c.ExpiresAt.IsZero() {
		idleDeadline = earliest(idleDeadline, c.ExpiresAt)
	}
	if !now.Before(idleDeadline) {
		return reject(CodeSessionExpiredIdle)
	}
	if isParent {
		return RefreshDecision{Outcome: RefreshConverge}
	}

	d := RefreshDecision{Outcome: RefreshRotate}
	if c.Legacy() {
		// Grandfather path: the sign-in time is the row's (the server knew
		// it all along); the windows are today's policy.
		d.AuthTime = f.AuthTime
		d.Snapshot = in.Current.Snapshot()
		d.AbsoluteExpiresAt = earliest(f.AbsoluteExpiresAt, d.AuthTime.Add(d.Snapshot.Absolute()))
		if !now.Before(d.AbsoluteExpiresAt) {
			return revokeFamily(CodeSessionExpiredAbsolute, ReasonAbsoluteTimeout)
		}
	} else {
		d.AuthTime = *c.AuthTime
		d.Snapshot = Snapshot{IdleSeconds: c.IdleMax, AbsoluteSeconds: c.AbsMax}
		d.AbsoluteExpiresAt = absDeadline
	}
	d.TokenExpiresAt = now.Add(d.Snapshot.Idle())
	d.IdleExpiresAt = earliest(d.TokenExpiresAt, now.Add(f.Snapshot.Idle()))
	if c.Legacy() {
		d.IdleExpiresAt = d.TokenExpiresAt
	}
	return d
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

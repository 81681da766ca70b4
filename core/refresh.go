package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
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

// RotationGuard is the exact state the session row must be in for the
// refresh fast path: the store writes the rotation only if every condition
// holds, in the same statement (RotateIfCurrent). A row that meets it is one
// on which DecideRefresh decides RefreshRotate with the decision
// PlanFastRotation returned (TestPlanFastRotation_AgreesWithDecideRefresh),
// so the fast path never decides anything the slow path would not.
type RotationGuard struct {
	SessionID     uuid.UUID
	UserID        uuid.UUID // the row's user; that user active
	PresentedHash []byte    // the row's current_jti_hash
	Now           time.Time // not revoked; idle and absolute deadlines after Now
	// The row's snapshot and absolute deadline equal the claims': auth_time,
	// idle/absolute seconds, and absolute_expires_at = AbsoluteExpiresAt.
	AuthTime          time.Time
	Snapshot          Snapshot
	AbsoluteExpiresAt time.Time
}

// RotatedSession is what the fast path's write reads back.
type RotatedSession struct {
	Role       Role // the user's current role, for the access token
	Generation int  // the session's generation after the rotation
}

// PlanFastRotation computes, from the verified claims alone, the rotation of
// the refresh fast path and the conditions the row must meet for it. ok is
// false when the claims already rule the fast path out (a legacy token, a
// token not valid yet or past its exp, the absolute cap reached): the slow
// path then reads the row and DecideRefresh decides (and, for the cap,
// revokes and audits).
func PlanFastRotation(c RefreshClaims, presentedHash []byte, now time.Time) (RotationGuard, RefreshDecision, bool) {
	if c.Legacy() || c.ExpiresAt.IsZero() || !now.Before(c.ExpiresAt) {
		return RotationGuard{}, RefreshDecision{}, false
	}
	if !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(NotBeforeLeeway)) {
		return RotationGuard{}, RefreshDecision{}, false
	}
	snap := Snapshot{IdleSeconds: c.IdleMax, AbsoluteSeconds: c.AbsMax}
	abs := c.AuthTime.Add(snap.Absolute())
	if !now.Before(abs) {
		return RotationGuard{}, RefreshDecision{}, false
	}
	g := RotationGuard{
		SessionID: c.SessionID, UserID: c.Subject, PresentedHash: presentedHash, Now: now,
		AuthTime: *c.AuthTime, Snapshot: snap, AbsoluteExpiresAt: abs,
	}
	// As DecideRefresh's rotation: the row's idle snapshot is the claims'
	// (guarded), so the idle deadline is the new token's exp.
	tokenExp := now.Add(snap.Idle())
	d := RefreshDecision{
		Outcome: RefreshRotate, AuthTime: *c.AuthTime, Snapshot: snap,
		IdleExpiresAt: tokenExp, AbsoluteExpiresAt: abs, TokenExpiresAt: tokenExp,
	}
	return g, d, true
}

// rotatedClaims are the claims of the successor a RefreshRotate decision
// issues.
func rotatedClaims(d RefreshDecision, userID, sessionID, accountID uuid.UUID, jti string, now time.Time) RefreshClaims {
	authTime := d.AuthTime
	return RefreshClaims{
		Subject: userID, SessionID: sessionID, AccountID: accountID, JTI: jti,
		IssuedAt: now, ExpiresAt: d.TokenExpiresAt, AuthTime: &authTime,
		IdleMax: d.Snapshot.IdleSeconds, AbsMax: d.Snapshot.AbsoluteSeconds,
	}
}

// convergeClaims are the claims of the grace-window answer: the session's
// current token, re-signed from the row (same jti, same claims). ok is false
// when the sealed successor does not open under the presented token's jti
// (or the row was never rotated): the token is then refused as invalid.
func convergeClaims(c RefreshClaims, f FamilyState, accountID uuid.UUID) (RefreshClaims, bool) {
	currentJTI, ok := OpenSuccessor(c.JTI, f.CurrentJTISealed)
	if !ok || f.RotatedAt == nil {
		return RefreshClaims{}, false
	}
	authTime := f.AuthTime
	return RefreshClaims{
		Subject: f.UserID, SessionID: f.SessionID, AccountID: accountID, JTI: currentJTI,
		IssuedAt: *f.RotatedAt, ExpiresAt: f.RotatedAt.Add(f.Snapshot.Idle()),
		AuthTime: &authTime, IdleMax: f.Snapshot.IdleSeconds, AbsMax: f.Snapshot.AbsoluteSeconds,
	}, true
}

var refreshRejectMessage = map[Code]string{
	CodeInvalidRefreshToken:    "refresh token is not valid",
	CodeSessionExpiredIdle:     "session expired after inactivity",
	CodeSessionExpiredAbsolute: "session reached its maximum lifetime; sign in again",
	CodeRefreshTokenReused:     "refresh token was already used; the session has been revoked",
}

func refreshReject(code Code) error { return &Error{Code: code, Message: refreshRejectMessage[code]} }

// Refresh rotates a refresh token (SPEC §3).
//
// Fast path, one round trip: when the claims allow it (PlanFastRotation),
// the store writes the successor only if the row is exactly as the guard
// states. That is the common case: the presented token is the session's
// current one and everything is live.
//
// Slow path, when the row did not match: one transaction locks the row, lets
// DecideRefresh decide (converge inside the grace window, reuse, expiry,
// invalid, or a rotation the fast path could not plan, such as a legacy
// token's) and writes that. Rejections that change state (the absolute cap
// consumes the family; reuse revokes it) commit that change, with its audit
// row, before the error is returned. A successful rotation writes no audit
// row: the session row records it (generation, rotated_at, last_*).
func (s *Service) Refresh(ctx context.Context, rawToken string, client Client) (TokenPair, error) {
	claims, err := s.tokens.VerifyRefresh(rawToken)
	if err != nil {
		return TokenPair{}, err
	}
	hash := HashJTI(claims.JTI)
	accountID := claims.AccountID
	if accountID == uuid.Nil {
		accountID, err = s.store.SessionAccount(ctx, claims.SessionID)
		if errors.Is(err, ErrNotFound) {
			return TokenPair{}, refreshReject(CodeInvalidRefreshToken)
		}
		if err != nil {
			return TokenPair{}, err
		}
	}
	now := s.clock.Now()

	if guard, d, ok := PlanFastRotation(claims, hash, now); ok {
		newJTI := NewJTI()
		rotated, ok, err := s.store.RotateIfCurrent(ctx, accountID, guard, s.rotation(claims, hash, newJTI, d, now, client))
		if err != nil {
			return TokenPair{}, err
		}
		if ok {
			return s.issue(accountID, rotated.Role,
				rotatedClaims(d, claims.Subject, claims.SessionID, accountID, newJTI, now), d.IdleExpiresAt, d.AbsoluteExpiresAt, now)
		}
	}
	return s.refreshSlow(ctx, claims, hash, accountID, now, client)
}

// rotation is the write of a RefreshRotate decision.
func (s *Service) rotation(c RefreshClaims, presented []byte, newJTI string, d RefreshDecision, now time.Time, client Client) Rotation {
	return Rotation{
		SessionID: c.SessionID, OldJTIHash: presented,
		NewJTIHash: HashJTI(newJTI), NewJTISealed: SealSuccessor(c.JTI, newJTI),
		Now: now, AuthTime: d.AuthTime, Snapshot: d.Snapshot,
		IdleExpiresAt: d.IdleExpiresAt, AbsoluteExpiresAt: d.AbsoluteExpiresAt,
		TokenExpiresAt: d.TokenExpiresAt, Client: client,
	}
}

// refreshSlow is the locked read, the decision and its write.
func (s *Service) refreshSlow(ctx context.Context, claims RefreshClaims, hash []byte, accountID uuid.UUID, now time.Time, client Client) (TokenPair, error) {
	var (
		decision RefreshDecision
		family   FamilyState
		newJTI   string
	)
	err := s.store.InTenantTx(ctx, accountID, func(tx TenantTx) error {
		var err error
		family, err = tx.SessionLockForRefresh(ctx, claims.SessionID)
		if errors.Is(err, ErrNotFound) {
			decision = reject(CodeInvalidRefreshToken)
			return nil
		}
		if err != nil {
			return err
		}
		var current EffectivePolicy
		if claims.Legacy() {
			override, err := tx.AccountPolicy(ctx)
			if err != nil {
				return err
			}
			current = s.cfg.Policy.Effective(override)
		}
		decision = DecideRefresh(RefreshInput{
			Now: now, Claims: claims, PresentedHash: hash, Family: family, Current: current, Grace: s.cfg.Grace,
		})
		switch decision.Outcome {
		case RefreshReject:
			if !decision.RevokeFamily {
				return nil
			}
			if _, err := tx.SessionRevoke(ctx, family.SessionID, now, decision.RevokeReason); err != nil {
				return err
			}
			switch decision.Code {
			case CodeRefreshTokenReused:
				return tx.Audit(ctx, s.event(accountID, &family.UserID, ActionRefreshReuseDetected, "session",
					family.SessionID.String(), map[string]any{
						"session_id": family.SessionID.String(), "generation": family.Generation,
						"presented_jti_hash": fmt.Sprintf("%x", hash),
					}, client, now))
			case CodeSessionExpiredAbsolute:
				return tx.Audit(ctx, s.event(accountID, &family.UserID, ActionSessionExpiredAbsolute, "session",
					family.SessionID.String(), map[string]any{
						"session_id": family.SessionID.String(), "generation": family.Generation,
						"absolute_expires_at": family.AbsoluteExpiresAt.UTC().Format(time.RFC3339),
					}, client, now))
			}
			return nil
		case RefreshRotate:
			newJTI = NewJTI()
			return tx.SessionRotate(ctx, s.rotation(claims, hash, newJTI, decision, now, client))
		}
		return nil
	})
	if err != nil {
		return TokenPair{}, err
	}

	switch decision.Outcome {
	case RefreshRotate:
		return s.issue(accountID, family.Role,
			rotatedClaims(decision, family.UserID, family.SessionID, accountID, newJTI, now), decision.IdleExpiresAt, decision.AbsoluteExpiresAt, now)
	case RefreshConverge:
		refresh, ok := convergeClaims(claims, family, accountID)
		if !ok {
			return TokenPair{}, refreshReject(CodeInvalidRefreshToken)
		}
		return s.issue(accountID, family.Role, refresh, family.IdleExpiresAt, family.AbsoluteExpiresAt, now)
	default:
		if decision.Code == CodeRefreshTokenReused {
			s.log.WarnContext(ctx, "refresh token reuse detected; session revoked",
				"account_id", accountID, "session_id", family.SessionID)
		}
		return TokenPair{}, refreshReject(decision.Code)
	}
}

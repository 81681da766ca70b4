package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

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

// DecideRefresh applies the session-policy rules of docs/session-rules.md §3–§4 to one refresh
// attempt. It reads the token's signed claims and the locked session row;
// where they disagree, the stricter wins.
//
// The order matters:
//  1. A revoked family, an inactive user, claims that do not match the
//     row, or a token not valid yet (nbf after now + TokenClockSkew) are
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
	if !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(TokenClockSkew)) {
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
	d.TokenExpiresAt = IdleDeadline(now.Add(d.Snapshot.Idle()), d.AbsoluteExpiresAt)
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

// IdleDeadline is an idle deadline as it is enforced: never after the
// session's absolute deadline, since no refresh succeeds past that one.
// Every idle deadline the service stores or shows goes through it, so no
// answer or row says a session lives on idle time it does not have
// (TMO-04, docs/security-checklist.md).
func IdleDeadline(idle, absolute time.Time) time.Time { return earliest(idle, absolute) }

// RotationGuard is the exact state the session row must be in for the
// refresh fast path: the store writes the rotation only if every condition
// holds, in the same statement (RotateIfCurrent), and its conditions are
// these fields and nothing else. PlanFastRotation derives it from the
// claims and lets DecideRefresh decide on the row it admits (admitted), so
// every row that meets it gets, from DecideRefresh, exactly the rotation
// the plan carries: the fast path never decides anything the slow path
// would not (TestPlanFastRotation_AgreesWithDecideRefresh; against
// PostgreSQL, TestRotateIfCurrent_AppliesExactlyWhatDecideRefreshRotates).
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

// admitted is the session row the guard admits, as DecideRefresh reads it:
// live, of an active user, presenting its current token, with the guard's
// snapshot and deadlines. Every admitted row gets the same decision:
// DecideRefresh reads the row's idle deadline only to compare it with now
// (an admitted row's is after Now; idle, here the token's exp, stands for
// all of them, since the claims' exp is checked in the same comparison),
// and a current token reads neither the previous token nor rotated_at.
func (g RotationGuard) admitted(idle time.Time) FamilyState {
	return FamilyState{
		SessionID: g.SessionID, UserID: g.UserID, UserActive: true, AuthTime: g.AuthTime, Snapshot: g.Snapshot,
		IdleExpiresAt: idle, AbsoluteExpiresAt: g.AbsoluteExpiresAt, CurrentJTIHash: g.PresentedHash,
	}
}

// RotatedSession is what the fast path's write reads back.
type RotatedSession struct {
	Role       Role // the user's current role, for the access token
	Generation int  // the session's generation after the rotation
	Auth       AuthLevel
}

// PlanFastRotation computes, from the verified claims alone, the rotation of
// the refresh fast path and the conditions the row must meet for it. The
// rule is DecideRefresh's, stated once: the guard is the row the claims
// describe, and the decision is DecideRefresh's on that row. ok is false
// when the claims rule the fast path out: a legacy token or one without
// exp (its successor needs the policy in force, which only the slow path
// reads), or any claim DecideRefresh refuses or expires (not valid yet,
// past its exp, the absolute cap reached). The slow path then reads the
// row and DecideRefresh decides (and, for the cap, revokes and audits).
func PlanFastRotation(c RefreshClaims, presentedHash []byte, now time.Time) (RotationGuard, RefreshDecision, bool) {
	if c.Legacy() || c.ExpiresAt.IsZero() {
		return RotationGuard{}, RefreshDecision{}, false
	}
	snap := Snapshot{IdleSeconds: c.IdleMax, AbsoluteSeconds: c.AbsMax}
	g := RotationGuard{
		SessionID: c.SessionID, UserID: c.Subject, PresentedHash: presentedHash, Now: now,
		AuthTime: *c.AuthTime, Snapshot: snap, AbsoluteExpiresAt: c.AuthTime.Add(snap.Absolute()),
	}
	d := DecideRefresh(RefreshInput{Now: now, Claims: c, PresentedHash: presentedHash, Family: g.admitted(c.ExpiresAt)})
	if d.Outcome != RefreshRotate {
		return RotationGuard{}, RefreshDecision{}, false
	}
	return g, d, true
}

// SameRotation reports whether d and o rotate to the same successor
// (snapshot, auth_time and deadlines): whether a decision of the slow path
// is the one a fast-path plan carries.
func (d RefreshDecision) SameRotation(o RefreshDecision) bool {
	return d.Outcome == RefreshRotate && o.Outcome == RefreshRotate && d.Snapshot == o.Snapshot &&
		d.AuthTime.Equal(o.AuthTime) && d.IdleExpiresAt.Equal(o.IdleExpiresAt) &&
		d.AbsoluteExpiresAt.Equal(o.AbsoluteExpiresAt) && d.TokenExpiresAt.Equal(o.TokenExpiresAt)
}

// refreshAnswer is what a successful refresh signs: the refresh token's
// claims and the session's deadlines reported with it.
type refreshAnswer struct {
	claims            RefreshClaims
	idleExpiresAt     time.Time
	absoluteExpiresAt time.Time
}

// answer turns the decision into what the caller gets, from the decision's
// input (the presented claims, the row) and the jti minted for a successor.
//   - RefreshRotate: the successor, carrying the decision's snapshot and
//     deadlines, issued now under newJTI.
//   - RefreshConverge: the session's current token, re-signed from the row:
//     the jti sealed under the presented (parent) token's jti, issued at the
//     rotation and expiring one idle window later. A seal that does not open
//     under the presented jti (or a row never rotated) means the token is
//     not the parent after all: refused as invalid.
//   - RefreshReject: the refusal, with its stable message.
//
// Pure, like DecideRefresh; split from it because only a token that is
// really the parent can open the seal, which DecideRefresh's table of
// hashes does not need to know.
func (d RefreshDecision) answer(in RefreshInput, accountID uuid.UUID, newJTI string) (refreshAnswer, error) {
	c, f := in.Claims, in.Family
	switch d.Outcome {
	case RefreshRotate:
		authTime := d.AuthTime
		return refreshAnswer{
			claims: RefreshClaims{
				Subject: c.Subject, SessionID: c.SessionID, AccountID: accountID, JTI: newJTI,
				IssuedAt: in.Now, ExpiresAt: d.TokenExpiresAt, AuthTime: &authTime,
				IdleMax: d.Snapshot.IdleSeconds, AbsMax: d.Snapshot.AbsoluteSeconds,
			},
			idleExpiresAt: d.IdleExpiresAt, absoluteExpiresAt: d.AbsoluteExpiresAt,
		}, nil
	case RefreshConverge:
		currentJTI, ok := OpenSuccessor(c.JTI, f.CurrentJTISealed)
		if !ok || f.RotatedAt == nil {
			return refreshAnswer{}, refreshReject(CodeInvalidRefreshToken)
		}
		authTime := f.AuthTime
		return refreshAnswer{
			claims: RefreshClaims{
				Subject: f.UserID, SessionID: f.SessionID, AccountID: accountID, JTI: currentJTI,
				IssuedAt: *f.RotatedAt, ExpiresAt: f.RotatedAt.Add(f.Snapshot.Idle()),
				AuthTime: &authTime, IdleMax: f.Snapshot.IdleSeconds, AbsMax: f.Snapshot.AbsoluteSeconds,
			},
			idleExpiresAt: f.IdleExpiresAt, absoluteExpiresAt: f.AbsoluteExpiresAt,
		}, nil
	}
	return refreshAnswer{}, refreshReject(d.Code)
}

// Rotation is the write of a RefreshRotate decision for the presented
// token (in.Claims, in.PresentedHash) at in.Now: the presented token
// becomes the parent, the successor (newJTI) the current token, sealed
// under the parent's jti for a grace-window convergence. For the fast
// path, the session, the presented token and now are the guard's too.
func (d RefreshDecision) Rotation(in RefreshInput, newJTI string, client Client) Rotation {
	return Rotation{
		SessionID: in.Claims.SessionID, OldJTIHash: in.PresentedHash,
		NewJTIHash: HashJTI(newJTI), NewJTISealed: SealSuccessor(in.Claims.JTI, newJTI),
		Now: in.Now, AuthTime: d.AuthTime, Snapshot: d.Snapshot,
		IdleExpiresAt: d.IdleExpiresAt, AbsoluteExpiresAt: d.AbsoluteExpiresAt,
		TokenExpiresAt: d.TokenExpiresAt, Client: client,
	}
}

// familyRevocation is what a refusal that revokes the family records: the
// audit action and details and, for reuse (a theft signal), the warning
// for the operator's log. action is "" for a refusal that records nothing.
func (d RefreshDecision) familyRevocation(in RefreshInput) (action string, details map[string]any, warning string) {
	f := in.Family
	details = map[string]any{"session_id": f.SessionID.String(), "generation": f.Generation}
	switch d.Code {
	case CodeRefreshTokenReused:
		details["presented_jti_hash"] = fmt.Sprintf("%x", in.PresentedHash)
		return ActionRefreshReuseDetected, details, "refresh token reuse detected; session revoked"
	case CodeSessionExpiredAbsolute:
		details["absolute_expires_at"] = f.AbsoluteExpiresAt.UTC().Format(time.RFC3339)
		return ActionSessionExpiredAbsolute, details, ""
	}
	return "", nil, ""
}

var refreshRejectMessage = map[Code]string{
	CodeInvalidRefreshToken:    "refresh token is not valid",
	CodeSessionExpiredIdle:     "session expired after inactivity",
	CodeSessionExpiredAbsolute: "session reached its maximum lifetime; sign in again",
	CodeRefreshTokenReused:     "refresh token was already used; the session has been revoked",
}

func refreshReject(code Code) error { return &Error{Code: code, Message: refreshRejectMessage[code]} }

// Refresh rotates a refresh token (docs/session-rules.md §3): load, decide, apply, sign.
//
// Fast path, one round trip: when the claims allow it (PlanFastRotation),
// the store writes the successor only if the row is exactly as the guard
// states. That is the common case: the presented token is the session's
// current one and everything is live.
//
// Slow path, when the row did not match (refreshLocked): one transaction
// locks the row, lets DecideRefresh decide (converge inside the grace
// window, reuse, expiry, invalid, or a rotation the fast path could not
// plan, such as a legacy token's) and writes that. Rejections that change
// state (the absolute cap consumes the family; reuse revokes it) commit
// that change, with its audit row, before the error is returned. A
// successful rotation writes no audit row: the session row records it
// (generation, rotated_at, last_*).
func (s *Service) Refresh(ctx context.Context, rawToken string, client Client) (TokenPair, error) {
	claims, accountID, err := s.refreshClaims(ctx, rawToken)
	if err != nil {
		return TokenPair{}, err
	}
	now := s.clock.Now()
	in := RefreshInput{Now: now, Claims: claims, PresentedHash: HashJTI(claims.JTI), Grace: s.cfg.Grace}
	newJTI := NewJTI() // the successor's, if there is one

	rotated, d, ok, err := s.refreshFast(ctx, in, accountID, newJTI, client)
	role, auth := rotated.Role, rotated.Auth
	if err == nil && !ok {
		in, d, err = s.refreshLocked(ctx, in, accountID, newJTI, client)
		role, auth = in.Family.Role, in.Family.Auth
	}
	if err != nil {
		return TokenPair{}, err
	}
	ans, err := d.answer(in, accountID, newJTI)
	if err != nil {
		return TokenPair{}, err
	}
	pair, err := s.issue(accountID, role, auth, ans.claims, ans.idleExpiresAt, ans.absoluteExpiresAt, now)
	pair.Converged = d.Outcome == RefreshConverge
	return pair, err
}

// refreshClaims verifies the presented token and finds its tenant: the
// claim, or for a token minted before the claim existed, the session's row.
func (s *Service) refreshClaims(ctx context.Context, rawToken string) (RefreshClaims, uuid.UUID, error) {
	claims, err := s.tokens.VerifyRefresh(rawToken)
	if err != nil {
		return RefreshClaims{}, uuid.Nil, err
	}
	if claims.AccountID != uuid.Nil {
		return claims, claims.AccountID, nil
	}
	accountID, err := s.refreshes.SessionAccount(ctx, claims.SessionID)
	if errors.Is(err, ErrNotFound) {
		return RefreshClaims{}, uuid.Nil, refreshReject(CodeInvalidRefreshToken)
	}
	return claims, accountID, err
}

// refreshFast is the one-statement rotation PlanFastRotation allows; ok is
// false when the plan or the row ruled it out, and nothing was written.
func (s *Service) refreshFast(ctx context.Context, in RefreshInput, accountID uuid.UUID, newJTI string, client Client) (RotatedSession, RefreshDecision, bool, error) {
	guard, d, ok := PlanFastRotation(in.Claims, in.PresentedHash, in.Now)
	if !ok {
		return RotatedSession{}, RefreshDecision{}, false, nil
	}
	rotated, ok, err := s.refreshes.RotateIfCurrent(ctx, accountID, guard, d.Rotation(in, newJTI, client))
	return rotated, d, ok, err
}

// refreshLocked is the slow path: it loads the locked row (and, for a
// legacy token, the policy in force) into the input, decides, and applies
// the decision in the same transaction. It returns the completed input and
// the decision; the caller answers with them.
func (s *Service) refreshLocked(ctx context.Context, in RefreshInput, accountID uuid.UUID, newJTI string, client Client) (RefreshInput, RefreshDecision, error) {
	var d RefreshDecision
	var warning string
	err := s.refreshes.inRefreshTx(ctx, accountID, func(tx refreshTx) error {
		var err error
		in.Family, err = tx.SessionLockForRefresh(ctx, in.Claims.SessionID)
		if errors.Is(err, ErrNotFound) {
			d = reject(CodeInvalidRefreshToken)
			return nil
		}
		if err != nil {
			return err
		}
		if in.Claims.Legacy() {
			override, err := tx.AccountPolicy(ctx)
			if err != nil {
				return err
			}
			in.Current = s.cfg.Policy.Effective(override)
		}
		d = DecideRefresh(in)
		switch {
		case d.Outcome == RefreshRotate:
			return tx.SessionRotate(ctx, d.Rotation(in, newJTI, client))
		case d.RevokeFamily:
			if _, err := tx.SessionRevoke(ctx, in.Family.SessionID, in.Now, d.RevokeReason); err != nil {
				return err
			}
			action, details, warn := d.familyRevocation(in)
			if action == "" {
				return nil
			}
			warning = warn
			return tx.Audit(ctx, s.event(accountID, &in.Family.UserID, action, "session", in.Family.SessionID.String(), details, client, in.Now))
		}
		return nil
	})
	if err != nil {
		return in, RefreshDecision{}, err
	}
	if warning != "" {
		s.log.WarnContext(ctx, warning, "account_id", accountID, "session_id", in.Family.SessionID)
	}
	return in, d, nil
}

package core_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// FuzzDecideRefresh drives the refresh decision with random sessions,
// tokens, clocks and grace windows and checks the rules of docs/session-rules.md §3–§4 on
// every outcome:
//   - it never panics, and a refusal carries one of the four SPEC codes,
//     revoking the family exactly for reuse and the absolute cap;
//   - only the current token of a live family of an active user, whose
//     claims match the row, rotates; its successor never outlives
//     auth_time + abs_max (nor the row's absolute deadline), its exp is
//     exactly now + idle, and the snapshot is carried forward unchanged
//     (or taken from today's policy, for a legacy token);
//   - only the immediate parent, inside the grace window, converges;
//   - nothing is granted at or after either deadline.
//
// Windows are bounded to 20 years and times to ±200 years around the seed
// clock: the claims come from tokens this service signed from a bounded
// policy, and time.Duration cannot hold more than ~292 years.
//
//	go test -run '^$' -fuzz '^FuzzDecideRefresh$' -fuzztime 30s ./core
func FuzzDecideRefresh(f *testing.F) {
	// flags: bit 0-1 which token (0 current, 1 parent, 2 grandparent),
	// 2 legacy, 3 revoked, 4 inactive user, 5 subject mismatch,
	// 6 session mismatch, 7 never rotated, 8 nbf set, 9 no previous.
	f.Add(uint16(0), int64(36000+1800), int64(0), int64(3600), int64(86400), int64(36000+3600), int64(36000+3600), int64(86400), int64(36000), int64(10), int64(0), int64(3600), int64(86400), int64(60), int64(240))
	f.Add(uint16(1), int64(36005), int64(0), int64(3600), int64(86400), int64(36000+3600), int64(36000+3600), int64(86400), int64(36000), int64(10), int64(0), int64(3600), int64(86400), int64(60), int64(240))
	f.Add(uint16(1), int64(36011), int64(0), int64(3600), int64(86400), int64(36000+3600), int64(36000+3600), int64(86400), int64(36000), int64(10), int64(0), int64(3600), int64(86400), int64(60), int64(240))
	f.Add(uint16(0), int64(86400), int64(0), int64(3600), int64(86400), int64(86400+3600), int64(86400+3600), int64(86400), int64(86000), int64(10), int64(0), int64(3600), int64(86400), int64(60), int64(240))
	f.Add(uint16(4), int64(3600), int64(0), int64(0), int64(0), int64(7200), int64(7200), int64(14*86400), int64(0), int64(0), int64(0), int64(0), int64(0), int64(60), int64(240))
	f.Add(uint16(2|1<<8), int64(100), int64(0), int64(3600), int64(86400), int64(3600), int64(3600), int64(86400), int64(50), int64(10), int64(131), int64(3600), int64(86400), int64(15), int64(60))
	f.Add(uint16(0), int64(-5), int64(-10), int64(1), int64(1), int64(0), int64(0), int64(0), int64(-10), int64(0), int64(0), int64(1), int64(1), int64(1), int64(1))

	const (
		maxWindow = int64(20 * 365 * 24 * 3600)
		timeSpan  = int64(200 * 365 * 24 * 3600)
	)
	base := time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)
	at := func(off int64) time.Time { return base.Add(time.Duration(off%timeSpan) * time.Second) }
	window := func(v int64) int64 { // 1 … maxWindow-1 seconds; in-range values unchanged
		if v < 0 {
			v = -(v + 1)
		}
		if v %= maxWindow; v == 0 {
			v = 1
		}
		return v
	}
	minutes := func(v int64) int { return int(window(v)/60) + 1 }
	grace := func(v int64) time.Duration {
		if v < 0 {
			v = -(v + 1)
		}
		return time.Duration(v%86400) * time.Second
	}

	f.Fuzz(func(t *testing.T, flags uint16, now, authTime, idleMax, absMax, tokenExp, rowIdleExp, rowAbsSec, rotatedAt, graceSec, nbf, rowIdleSec, rowAbsSecSnap, curIdleMin, curAbsMin int64) {
		user, session, other := uuid.MustParse(fuzzUser), uuid.MustParse(fuzzSession), uuid.MustParse(fuzzOther)
		presented := []string{"cur", "par", "grand", "cur"}[flags&3]
		legacy := flags&(1<<2) != 0

		auth := at(authTime).Truncate(time.Second)
		in := core.RefreshInput{
			Now: at(now),
			Claims: core.RefreshClaims{
				Subject: user, SessionID: session, JTI: presented,
				IssuedAt: at(rotatedAt), ExpiresAt: at(tokenExp),
			},
			PresentedHash: core.HashJTI(presented),
			Family: core.FamilyState{
				SessionID: session, UserID: user, UserActive: flags&(1<<4) == 0, Role: core.RoleOwner,
				AuthTime:          auth,
				Snapshot:          core.Snapshot{IdleSeconds: window(rowIdleSec), AbsoluteSeconds: window(rowAbsSecSnap)},
				IdleExpiresAt:     at(rowIdleExp),
				AbsoluteExpiresAt: auth.Add(time.Duration(window(rowAbsSec)) * time.Second),
				CurrentJTIHash:    core.HashJTI("cur"),
				PreviousJTIHash:   core.HashJTI("par"),
				Generation:        2,
			},
			Current: core.EffectivePolicy{IdleMinutes: minutes(curIdleMin), AbsoluteMinutes: minutes(curAbsMin)},
			Grace:   grace(graceSec),
		}
		if !legacy {
			a := auth
			in.Claims.AuthTime, in.Claims.IdleMax, in.Claims.AbsMax = &a, window(idleMax), window(absMax)
		}
		if flags&(1<<3) != 0 {
			r := at(rotatedAt)
			in.Family.RevokedAt = &r
		}
		if flags&(1<<5) != 0 {
			in.Claims.Subject = other
		}
		if flags&(1<<6) != 0 {
			in.Claims.SessionID = other
		}
		if flags&(1<<7) == 0 {
			r := at(rotatedAt)
			in.Family.RotatedAt = &r
		}
		if flags&(1<<8) != 0 {
			in.Claims.NotBefore = at(nbf)
		}
		if flags&(1<<9) != 0 {
			in.Family.PreviousJTIHash = nil
		}

		d := core.DecideRefresh(in)
		checkDecision(t, in, d)
	})
}

const (
	fuzzUser    = "11111111-1111-4111-8111-111111111111"
	fuzzSession = "22222222-2222-4222-8222-222222222222"
	fuzzOther   = "33333333-3333-4333-8333-333333333333"
)

func checkDecision(t *testing.T, in core.RefreshInput, d core.RefreshDecision) {
	t.Helper()
	f, c, now := in.Family, in.Claims, in.Now
	valid := f.RevokedAt == nil && f.UserActive && c.Subject == f.UserID && c.SessionID == f.SessionID &&
		(c.NotBefore.IsZero() || !c.NotBefore.After(now.Add(core.TokenClockSkew)))
	isCurrent := string(in.PresentedHash) == string(f.CurrentJTIHash)
	isParent := !isCurrent && len(f.PreviousJTIHash) > 0 && string(in.PresentedHash) == string(f.PreviousJTIHash)
	// The deadlines the decision must respect: the row's, and the signed
	// claims' where the token has them (the stricter wins).
	absDeadline := f.AbsoluteExpiresAt
	if !c.Legacy() {
		if capAt := c.AuthTime.Add(time.Duration(c.AbsMax) * time.Second); capAt.Before(absDeadline) {
			absDeadline = capAt
		}
	}
	idleDeadline := f.IdleExpiresAt
	if c.ExpiresAt.Before(idleDeadline) {
		idleDeadline = c.ExpiresAt
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\ninput %+v\nclaims %+v\nfamily %+v\ndecision %+v", append(args, in, c, f, d)...)
	}

	switch d.Outcome {
	case core.RefreshReject:
		switch d.Code {
		case core.CodeInvalidRefreshToken, core.CodeSessionExpiredIdle:
			if d.RevokeFamily {
				fail("%s revokes the family", d.Code)
			}
		case core.CodeSessionExpiredAbsolute:
			if !d.RevokeFamily || d.RevokeReason != core.ReasonAbsoluteTimeout {
				fail("absolute expiry must consume the token with its family")
			}
		case core.CodeRefreshTokenReused:
			if !d.RevokeFamily || d.RevokeReason != core.ReasonRefreshReuse {
				fail("reuse must revoke the family")
			}
			if isCurrent {
				fail("the current token is never reuse")
			}
		default:
			fail("refusal code %q is not one of the four codes of docs/session-rules.md §4", d.Code)
		}
		if !valid && d.Code != core.CodeInvalidRefreshToken {
			fail("an invalid family or token is refused as %s, want invalid_refresh_token", d.Code)
		}
	case core.RefreshConverge:
		if !valid || !isParent || in.Grace <= 0 || f.RotatedAt == nil || !now.Before(f.RotatedAt.Add(in.Grace)) {
			fail("converged outside the grace rule (valid %v parent %v grace %v)", valid, isParent, in.Grace)
		}
		if !now.Before(absDeadline) || !now.Before(idleDeadline) {
			fail("converged at or after a deadline")
		}
	case core.RefreshRotate:
		if !valid || !isCurrent {
			fail("rotated a token that is not the current one of a valid family (valid %v current %v)", valid, isCurrent)
		}
		if !now.Before(absDeadline) || !now.Before(idleDeadline) {
			fail("rotated at or after a deadline (abs %v idle %v)", absDeadline, idleDeadline)
		}
		if !now.Before(d.AbsoluteExpiresAt) {
			fail("the successor is born past its absolute deadline")
		}
		if d.AbsoluteExpiresAt.After(d.AuthTime.Add(d.Snapshot.Absolute())) || d.AbsoluteExpiresAt.After(f.AbsoluteExpiresAt) {
			fail("absolute deadline %v after auth_time+abs_max %v or the row's %v",
				d.AbsoluteExpiresAt, d.AuthTime.Add(d.Snapshot.Absolute()), f.AbsoluteExpiresAt)
		}
		// exp slides to now+idle, capped at the absolute deadline: a token
		// never outlives its session (docs/session-rules.md §3, TMO-04).
		if want := core.IdleDeadline(now.Add(d.Snapshot.Idle()), d.AbsoluteExpiresAt); !d.TokenExpiresAt.Equal(want) {
			fail("token exp %v, want min(now+idle, absolute) %v", d.TokenExpiresAt, want)
		}
		if d.IdleExpiresAt.After(d.TokenExpiresAt) || !now.Before(d.IdleExpiresAt) {
			fail("idle deadline %v not in (now, token exp %v]", d.IdleExpiresAt, d.TokenExpiresAt)
		}
		if c.Legacy() {
			if !d.AuthTime.Equal(f.AuthTime) || d.Snapshot != in.Current.Snapshot() {
				fail("legacy token: successor must take the row's auth_time and today's policy")
			}
		} else {
			if !d.AuthTime.Equal(*c.AuthTime) || d.Snapshot != (core.Snapshot{IdleSeconds: c.IdleMax, AbsoluteSeconds: c.AbsMax}) {
				fail("the snapshot was not carried forward unchanged")
			}
			if d.AbsoluteExpiresAt.After(c.AuthTime.Add(time.Duration(c.AbsMax) * time.Second)) {
				fail("the absolute window slid past the signed auth_time+abs_max")
			}
		}
	default:
		fail("unknown outcome %d", d.Outcome)
	}
}

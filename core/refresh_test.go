package core_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// A session signed in at authT with idle 1 h / absolute 24 h. The current
// token was issued at the last rotation; its parent and grandparent are
// older. Current (the account policy now) is deliberately different from
// the snapshot, to prove that only legacy tokens consult it.
var (
	rtUser    = uuid.MustParse("11111111-1111-4111-8111-111111111111")
	rtSession = uuid.MustParse("22222222-2222-4222-8222-222222222222")
	rtOther   = uuid.MustParse("33333333-3333-4333-8333-333333333333")
	authT     = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
)

const (
	idleSec  = 3600  // 1 h
	absSec   = 86400 // 24 h
	jtiCur   = "jti-current"
	jtiPar   = "jti-parent"
	jtiGrand = "jti-grandparent"
	hour     = time.Hour
	sec      = time.Second
	minute   = time.Minute
)

func tp(t time.Time) *time.Time { return &t }

// scenario returns a refresh of the current token at now, the last rotation
// having happened at rotatedAt.
func scenario(now, rotatedAt time.Time) core.RefreshInput {
	a := authT
	return core.RefreshInput{
		Now: now,
		Claims: core.RefreshClaims{
			Subject: rtUser, SessionID: rtSession, JTI: jtiCur,
			IssuedAt: rotatedAt, ExpiresAt: rotatedAt.Add(idleSec * sec),
			AuthTime: &a, IdleMax: idleSec, AbsMax: absSec,
		},
		PresentedHash: core.HashJTI(jtiCur),
		Family: core.FamilyState{
			SessionID: rtSession, UserID: rtUser, UserActive: true, Role: core.RoleMember,
			AuthTime:          authT,
			Snapshot:          core.Snapshot{IdleSeconds: idleSec, AbsoluteSeconds: absSec},
			IdleExpiresAt:     rotatedAt.Add(idleSec * sec),
			AbsoluteExpiresAt: authT.Add(absSec * sec),
			CurrentJTIHash:    core.HashJTI(jtiCur),
			PreviousJTIHash:   core.HashJTI(jtiPar),
			RotatedAt:         tp(rotatedAt),
			Generation:        3,
		},
		Current: core.EffectivePolicy{IdleMinutes: 15, AbsoluteMinutes: 60},
		Grace:   10 * sec,
	}
}

// defaultScenario: ten hours into the session, 30 minutes after the last
// rotation.
func defaultScenario() core.RefreshInput {
	rot := authT.Add(10 * hour)
	return scenario(rot.Add(30*minute), rot)
}

// presenting swaps the presented token for an older one of the family,
// issued 20 minutes before the current one.
func presenting(in core.RefreshInput, jti string) core.RefreshInput {
	in.Claims.JTI = jti
	in.Claims.IssuedAt = in.Family.RotatedAt.Add(-20 * minute)
	in.Claims.ExpiresAt = in.Claims.IssuedAt.Add(idleSec * sec)
	in.PresentedHash = core.HashJTI(jti)
	return in
}

// legacyScenario: a token from before the snapshot claims, presented one
// hour after sign-in; the account policy now is 60/240 min.
func legacyScenario() core.RefreshInput {
	now := authT.Add(1 * hour)
	in := scenario(now, authT)
	in.Claims.AuthTime, in.Claims.IdleMax, in.Claims.AbsMax = nil, 0, 0
	in.Claims.IssuedAt = authT
	in.Claims.ExpiresAt = now.Add(2 * hour)
	in.Family.Snapshot = core.Snapshot{}
	in.Family.IdleExpiresAt = now.Add(2 * hour)
	in.Family.AbsoluteExpiresAt = authT.Add(14 * 24 * hour)
	in.Family.PreviousJTIHash, in.Family.RotatedAt = nil, nil
	in.Current = core.EffectivePolicy{IdleMinutes: 60, AbsoluteMinutes: 240}
	return in
}

func with(in core.RefreshInput, f func(*core.RefreshInput)) core.RefreshInput {
	f(&in)
	return in
}

func rotated(auth time.Time, snap core.Snapshot, idleExp, absExp, tokenExp time.Time) core.RefreshDecision {
	return core.RefreshDecision{
		Outcome: core.RefreshRotate, AuthTime: auth, Snapshot: snap,
		IdleExpiresAt: idleExp, AbsoluteExpiresAt: absExp, TokenExpiresAt: tokenExp,
	}
}

var (
	decInvalid   = core.RefreshDecision{Outcome: core.RefreshReject, Code: core.CodeInvalidRefreshToken}
	decIdle      = core.RefreshDecision{Outcome: core.RefreshReject, Code: core.CodeSessionExpiredIdle}
	decAbsolute  = core.RefreshDecision{Outcome: core.RefreshReject, Code: core.CodeSessionExpiredAbsolute, RevokeFamily: true, RevokeReason: core.ReasonAbsoluteTimeout}
	decReused    = core.RefreshDecision{Outcome: core.RefreshReject, Code: core.CodeRefreshTokenReused, RevokeFamily: true, RevokeReason: core.ReasonRefreshReuse}
	decConverge  = core.RefreshDecision{Outcome: core.RefreshConverge}
	snapDefault  = core.Snapshot{IdleSeconds: idleSec, AbsoluteSeconds: absSec}
	snapLegacy   = core.Snapshot{IdleSeconds: 3600, AbsoluteSeconds: 14400}
	absFromAuthT = authT.Add(absSec * sec)
)

func diffDecision(got, want core.RefreshDecision) string {
	if got.Outcome != want.Outcome || got.Code != want.Code || got.RevokeFamily != want.RevokeFamily ||
		got.RevokeReason != want.RevokeReason || got.Snapshot != want.Snapshot ||
		!got.AuthTime.Equal(want.AuthTime) || !got.IdleExpiresAt.Equal(want.IdleExpiresAt) ||
		!got.AbsoluteExpiresAt.Equal(want.AbsoluteExpiresAt) || !got.TokenExpiresAt.Equal(want.TokenExpiresAt) {
		return fmt.Sprintf("\n got  %s\n want %s", fmtDecision(got), fmtDecision(want))
	}
	return ""
}

func fmtDecision(d core.RefreshDecision) string {
	f := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format(time.RFC3339)
	}
	return fmt.Sprintf("{Outcome:%d Code:%q RevokeFamily:%v Reason:%q AuthTime:%s Snapshot:%+v Idle:%s Abs:%s Token:%s}",
		d.Outcome, d.Code, d.RevokeFamily, d.RevokeReason, f(d.AuthTime), d.Snapshot,
		f(d.IdleExpiresAt), f(d.AbsoluteExpiresAt), f(d.TokenExpiresAt))
}

func TestDecideRefresh(t *testing.T) {
	base := defaultScenario()
	now := base.Now
	absCap := authT.Add(absSec * sec) // auth_time + abs_max

	tests := []struct {
		name string
		in   core.RefreshInput
		want core.RefreshDecision
	}{
		// Rotation of the current token.
		{
			name: "CurrentToken_Rotates_CarryingAuthTimeAndSnapshotUnchanged",
			in:   base,
			want: rotated(authT, snapDefault, now.Add(hour), absFromAuthT, now.Add(hour)),
		},
		{
			name: "TMO02_RowAbsoluteLaterThanClaims_AbsoluteNeverPastAuthTimePlusAbsMax",
			in:   with(base, func(in *core.RefreshInput) { in.Family.AbsoluteExpiresAt = authT.Add(48 * hour) }),
			want: rotated(authT, snapDefault, now.Add(hour), absFromAuthT, now.Add(hour)),
		},
		{
			name: "TMO02_RowAbsoluteEarlierThanClaims_RowDeadlineKept",
			in:   with(base, func(in *core.RefreshInput) { in.Family.AbsoluteExpiresAt = authT.Add(12 * hour) }),
			want: rotated(authT, snapDefault, now.Add(hour), authT.Add(12*hour), now.Add(hour)),
		},
		{
			name: "RowIdleSnapshotStricter_CapsSessionIdleDeadlineNotTokenExp",
			in:   with(base, func(in *core.RefreshInput) { in.Family.Snapshot.IdleSeconds = 1800 }),
			want: rotated(authT, snapDefault, now.Add(30*minute), absFromAuthT, now.Add(hour)),
		},
		{
			name: "TMO03_ShortenedAccountPolicy_DoesNotChangeSnapshotOfNonLegacyToken",
			in:   with(base, func(in *core.RefreshInput) { in.Current = core.EffectivePolicy{IdleMinutes: 15, AbsoluteMinutes: 60} }),
			want: rotated(authT, snapDefault, now.Add(hour), absFromAuthT, now.Add(hour)),
		},

		// Absolute cap (boundary is >=).
		{
			name: "TMO02_AbsoluteCapExactlyAtAuthTimePlusAbsMax_RejectsAndRevokesFamily",
			in:   scenario(absCap, absCap.Add(-10*minute)),
			want: decAbsolute,
		},
		{
			// TMO-04: the idle deadline (and the token's exp) is capped at the
			// absolute one, which no refresh passes.
			name: "TMO02_TMO04_OneSecondBeforeAbsoluteCap_Rotates_IdleCappedAtAbsolute",
			in:   scenario(absCap.Add(-sec), absCap.Add(-10*minute)),
			want: rotated(authT, snapDefault, absCap, absCap, absCap),
		},
		{
			name: "TMO02_WellPastAbsoluteCap_RejectsAndRevokesFamily",
			in: with(scenario(absCap.Add(5*hour), absCap.Add(5*hour-10*minute)), func(in *core.RefreshInput) {
				in.Family.AbsoluteExpiresAt = absCap.Add(48 * hour) // row lags; claims decide
			}),
			want: decAbsolute,
		},
		{
			name: "WhichRecordDecides_ClaimsAuthTimeOlderThanRow_AbsoluteExpiryThoughRowAllows",
			in: with(scenario(authT.Add(22*hour), authT.Add(22*hour-10*minute)), func(in *core.RefreshInput) {
				older := authT.Add(-2 * hour) // token's cap: authT+22h; row's cap: authT+24h
				in.Claims.AuthTime = &older
			}),
			want: decAbsolute,
		},
		{
			name: "WhichRecordDecides_RowAbsoluteStricterThanClaims_AbsoluteExpiry",
			in: with(scenario(authT.Add(20*hour), authT.Add(20*hour-10*minute)), func(in *core.RefreshInput) {
				in.Family.AbsoluteExpiresAt = authT.Add(20 * hour)
			}),
			want: decAbsolute,
		},

		// Idle expiry (boundary is >=, family kept).
		{
			name: "TMO01_NowEqualsExp_ExpiredIdleWithoutRevokingFamily",
			in: with(base, func(in *core.RefreshInput) {
				in.Claims.ExpiresAt = now
				in.Family.IdleExpiresAt = now.Add(hour)
			}),
			want: decIdle,
		},
		{
			name: "TMO01_OneSecondBeforeExp_Rotates",
			in: with(base, func(in *core.RefreshInput) {
				in.Claims.ExpiresAt = now.Add(sec)
				in.Family.IdleExpiresAt = now.Add(sec)
			}),
			want: rotated(authT, snapDefault, now.Add(hour), absFromAuthT, now.Add(hour)),
		},
		{
			name: "WhichRecordDecides_RowIdleDeadlineStricterThanExp_ExpiredIdle",
			in: with(base, func(in *core.RefreshInput) {
				in.Claims.ExpiresAt = now.Add(30 * minute)
				in.Family.IdleExpiresAt = now
			}),
			want: decIdle,
		},
		{
			name: "BothIdleAndAbsolutePassed_AbsoluteWins",
			in: with(scenario(absCap, absCap.Add(-2*hour)), func(in *core.RefreshInput) {
				in.Claims.ExpiresAt = absCap.Add(-hour)
			}),
			want: decAbsolute,
		},

		// Plainly invalid.
		{
			name: "REV01_RevokedSession_InvalidRefreshToken",
			in:   with(base, func(in *core.RefreshInput) { in.Family.RevokedAt = tp(now.Add(-minute)) }),
			want: decInvalid,
		},
		{
			name: "RT01_RevokedFamily_AncestorReplay_InvalidNotReusedAgain",
			in: with(presenting(base, jtiGrand), func(in *core.RefreshInput) {
				in.Family.RevokedAt = tp(now.Add(-minute))
			}),
			want: decInvalid,
		},
		{
			name: "REV04_InactiveUser_InvalidRefreshToken",
			in:   with(base, func(in *core.RefreshInput) { in.Family.UserActive = false }),
			want: decInvalid,
		},
		{
			name: "RT04_SubjectMismatch_InvalidRefreshToken",
			in:   with(base, func(in *core.RefreshInput) { in.Claims.Subject = rtOther }),
			want: decInvalid,
		},
		{
			name: "RT04_SessionMismatch_InvalidRefreshToken",
			in:   with(base, func(in *core.RefreshInput) { in.Claims.SessionID = rtOther }),
			want: decInvalid,
		},
		{
			name: "JWT05_NotBeforeBeyondLeeway_InvalidRefreshToken_FamilyKept",
			in:   with(base, func(in *core.RefreshInput) { in.Claims.NotBefore = now.Add(core.TokenClockSkew + sec) }),
			want: decInvalid,
		},
		{
			name: "JWT05_NotBeforeWithinLeeway_Rotates",
			in:   with(base, func(in *core.RefreshInput) { in.Claims.NotBefore = now.Add(core.TokenClockSkew) }),
			want: rotated(authT, snapDefault, now.Add(hour), absFromAuthT, now.Add(hour)),
		},

		// Reuse detection and the grace window.
		{
			name: "RT01_AncestorReplay_RevokesFamily",
			in:   presenting(base, jtiGrand),
			want: decReused,
		},
		{
			name: "RT02_GrandparentInsideGraceWindow_RevokesFamily",
			in:   presenting(scenario(now, now.Add(-sec)), jtiGrand),
			want: decReused,
		},
		{
			name: "RT01_FirstGenerationWithoutParent_UnknownJTI_RevokesFamily",
			in: with(presenting(base, jtiPar), func(in *core.RefreshInput) {
				in.Family.PreviousJTIHash = nil
			}),
			want: decReused,
		},
		{
			name: "RT01_AncestorReplayPastAbsoluteCap_StillReuse",
			in:   presenting(scenario(absCap.Add(hour), absCap.Add(-10*minute)), jtiGrand),
			want: decReused,
		},
		{
			name: "RT02_ParentInsideGraceWindow_Converges",
			in:   presenting(scenario(now, now.Add(-5*sec)), jtiPar),
			want: decConverge,
		},
		{
			name: "RT02_ParentOneSecondBeforeGraceEnds_Converges",
			in:   presenting(scenario(now, now.Add(-9*sec)), jtiPar),
			want: decConverge,
		},
		{
			name: "RT02_ParentExactlyAtRotatedAtPlusGrace_RevokesFamily",
			in:   presenting(scenario(now, now.Add(-10*sec)), jtiPar),
			want: decReused,
		},
		{
			name: "RT02_ParentAfterGraceWindow_RevokesFamily",
			in:   presenting(base, jtiPar),
			want: decReused,
		},
		{
			name: "RT02_ParentWithGraceZero_RevokesFamily",
			in: with(presenting(scenario(now, now), jtiPar), func(in *core.RefreshInput) {
				in.Grace = 0
			}),
			want: decReused,
		},
		{
			name: "RT02_GraceZero_RotatedAtAheadOfClock_RevokesFamily",
			in: with(presenting(scenario(now, now.Add(2*sec)), jtiPar), func(in *core.RefreshInput) {
				in.Grace = 0
			}),
			want: decReused,
		},
		{
			name: "RT01_EmptyPresentedHashWithoutParent_NotTakenForParent",
			in: with(presenting(scenario(now, now.Add(-sec)), jtiPar), func(in *core.RefreshInput) {
				in.PresentedHash, in.Family.PreviousJTIHash = nil, nil
			}),
			want: decReused,
		},
		{
			name: "RT02_ParentWithoutRotatedAt_RevokesFamily",
			in: with(presenting(scenario(now, now.Add(-5*sec)), jtiPar), func(in *core.RefreshInput) {
				in.Family.RotatedAt = nil
			}),
			want: decReused,
		},
		{
			name: "RT02_ParentInsideGraceButPastAbsoluteCap_AbsoluteExpiry",
			in:   presenting(scenario(absCap, absCap.Add(-5*sec)), jtiPar),
			want: decAbsolute,
		},
		{
			// The parent's own exp has passed, but outside the window a spent
			// parent is still the theft signal, not an idle expiry.
			name: "RT02_ParentAfterGrace_PastItsOwnExp_StillReuse",
			in: with(presenting(scenario(now, now.Add(-60*sec)), jtiPar), func(in *core.RefreshInput) {
				in.Claims.ExpiresAt = now.Add(-sec)
			}),
			want: decReused,
		},
		{
			name: "RT02_ParentInsideGraceButIdleExpired_ExpiredIdle",
			in: with(presenting(scenario(now, now.Add(-5*sec)), jtiPar), func(in *core.RefreshInput) {
				in.Claims.ExpiresAt = now
			}),
			want: decIdle,
		},

		// Legacy tokens (no auth_time): one rotation onto today's policy.
		{
			name: "LegacyToken_Rotates_SnapshotFromCurrentPolicyAuthTimeFromRow",
			in:   legacyScenario(),
			want: rotated(authT, snapLegacy, authT.Add(2*hour), authT.Add(4*hour), authT.Add(2*hour)),
		},
		{
			name: "LegacyToken_RowAbsoluteEarlier_RowDeadlineKept",
			in: with(legacyScenario(), func(in *core.RefreshInput) {
				in.Family.AbsoluteExpiresAt = authT.Add(2 * hour)
			}),
			want: rotated(authT, snapLegacy, authT.Add(2*hour), authT.Add(2*hour), authT.Add(2*hour)),
		},
		{
			name: "LegacyToken_RowAuthTimePlusCurrentAbsoluteReached_AbsoluteExpiry",
			in: with(legacyScenario(), func(in *core.RefreshInput) {
				in.Now = authT.Add(4 * hour) // exactly authT + 240 min
				in.Claims.ExpiresAt = in.Now.Add(hour)
				in.Family.IdleExpiresAt = in.Now.Add(hour)
			}),
			want: decAbsolute,
		},
		{
			name: "LegacyToken_RowAuthTimePlusCurrentAbsolutePassed_AbsoluteExpiry",
			in: with(legacyScenario(), func(in *core.RefreshInput) {
				in.Now = authT.Add(5 * hour)
				in.Claims.ExpiresAt = in.Now.Add(hour)
				in.Family.IdleExpiresAt = in.Now.Add(hour)
			}),
			want: decAbsolute,
		},
		{
			name: "LegacyToken_RowAbsolutePassed_AbsoluteExpiry",
			in: with(legacyScenario(), func(in *core.RefreshInput) {
				in.Family.AbsoluteExpiresAt = in.Now
			}),
			want: decAbsolute,
		},
		{
			name: "LegacyToken_ExpPassed_ExpiredIdle",
			in: with(legacyScenario(), func(in *core.RefreshInput) {
				in.Claims.ExpiresAt = in.Now
			}),
			want: decIdle,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := core.DecideRefresh(tt.in)
			if d := diffDecision(got, tt.want); d != "" {
				t.Fatal(d)
			}
		})
	}
}

// rotate applies a RefreshRotate decision the way the store does, returning
// the family and the claims of the successor.
func rotate(t *testing.T, in core.RefreshInput, d core.RefreshDecision, newJTI string) core.RefreshInput {
	t.Helper()
	if d.Outcome != core.RefreshRotate {
		t.Fatalf("at %s: decision %s, want rotate", in.Now.Format(time.RFC3339), fmtDecision(d))
	}
	f := in.Family
	f.PreviousJTIHash, f.CurrentJTIHash = f.CurrentJTIHash, core.HashJTI(newJTI)
	f.RotatedAt = tp(in.Now)
	f.AuthTime, f.Snapshot = d.AuthTime, d.Snapshot
	f.IdleExpiresAt, f.AbsoluteExpiresAt = d.IdleExpiresAt, d.AbsoluteExpiresAt
	f.Generation++
	a := d.AuthTime
	out := in
	out.Family = f
	out.Claims = core.RefreshClaims{
		Subject: f.UserID, SessionID: f.SessionID, JTI: newJTI, IssuedAt: in.Now, ExpiresAt: d.TokenExpiresAt,
		AuthTime: &a, IdleMax: d.Snapshot.IdleSeconds, AbsMax: d.Snapshot.AbsoluteSeconds,
	}
	out.PresentedHash = core.HashJTI(newJTI)
	return out
}

// signIn returns the state right after a sign-in at authT with the given
// snapshot, presenting the first token "R0".
func signIn(snap core.Snapshot) core.RefreshInput {
	a := authT
	return core.RefreshInput{
		Now: authT,
		Claims: core.RefreshClaims{
			Subject: rtUser, SessionID: rtSession, JTI: "R0", IssuedAt: authT, ExpiresAt: authT.Add(snap.Idle()),
			AuthTime: &a, IdleMax: snap.IdleSeconds, AbsMax: snap.AbsoluteSeconds,
		},
		PresentedHash: core.HashJTI("R0"),
		Family: core.FamilyState{
			SessionID: rtSession, UserID: rtUser, UserActive: true, Role: core.RoleOwner,
			AuthTime: authT, Snapshot: snap,
			IdleExpiresAt: authT.Add(snap.Idle()), AbsoluteExpiresAt: authT.Add(snap.Absolute()),
			CurrentJTIHash: core.HashJTI("R0"),
		},
		Grace: 10 * sec,
	}
}

func TestDecideRefresh_RT01_ChainR0toR3_ReplayR0RevokesThenLiveR3Invalid(t *testing.T) {
	st := signIn(snapDefault)
	r0 := st
	var r2 core.RefreshInput
	for i := 1; i <= 3; i++ {
		st.Now = authT.Add(time.Duration(i) * minute)
		if i == 3 {
			r2 = st
		}
		st = rotate(t, st, core.DecideRefresh(st), fmt.Sprintf("R%d", i))
	}
	if st.Family.Generation != 3 {
		t.Fatalf("generation = %d, want 3", st.Family.Generation)
	}
	now := authT.Add(30 * minute) // long after the grace window

	replay := st
	replay.Now, replay.Claims, replay.PresentedHash = now, r0.Claims, r0.PresentedHash
	if d := diffDecision(core.DecideRefresh(replay), decReused); d != "" {
		t.Fatalf("replay of R0: %s", d)
	}

	// The store revokes the family; the live R3 and the parent R2 are dead.
	st.Family.RevokedAt = tp(now)
	for name, in := range map[string]core.RefreshInput{"R3": st, "R2": r2} {
		in.Family, in.Now = st.Family, now.Add(sec)
		if d := diffDecision(core.DecideRefresh(in), decInvalid); d != "" {
			t.Fatalf("%s after family revocation: %s", name, d)
		}
	}
}

func TestDecideRefresh_TMO02_RefreshEveryFiveMinutes_AbsoluteWindowNeverSlides(t *testing.T) {
	snap := core.Snapshot{IdleSeconds: 1800, AbsoluteSeconds: 3600} // idle 30 min, absolute 1 h
	deadline := authT.Add(hour)
	st := signIn(snap)
	for i := 1; ; i++ {
		st.Now = authT.Add(time.Duration(5*i) * minute)
		d := core.DecideRefresh(st)
		if !st.Now.Before(deadline) {
			if diff := diffDecision(d, decAbsolute); diff != "" {
				t.Fatalf("refresh at +%d min: %s", 5*i, diff)
			}
			if i != 12 {
				t.Fatalf("absolute cap hit after %d refreshes, want 12", i)
			}
			return
		}
		if !d.AbsoluteExpiresAt.Equal(deadline) || !d.AuthTime.Equal(authT) || d.Snapshot != snap {
			t.Fatalf("refresh at +%d min slid the window: %s", 5*i, fmtDecision(d))
		}
		if want := core.IdleDeadline(st.Now.Add(30*minute), deadline); !d.TokenExpiresAt.Equal(want) || d.IdleExpiresAt.After(deadline) {
			t.Fatalf("refresh at +%d min: token exp %s, want %s", 5*i, d.TokenExpiresAt, want)
		}
		st = rotate(t, st, d, fmt.Sprintf("R%d", i))
	}
}

func TestDecideRefresh_TMO01_IdleWindowSlidesOnlyWithActivity(t *testing.T) {
	snap := core.Snapshot{IdleSeconds: 10, AbsoluteSeconds: 3600}
	st := signIn(snap)

	st.Now = authT.Add(9 * sec)
	st = rotate(t, st, core.DecideRefresh(st), "R1") // +9 s: extends to +19 s

	at := func(off time.Duration) core.RefreshInput {
		in := st
		in.Now = authT.Add(off)
		return in
	}
	if d := core.DecideRefresh(at(18 * sec)); d.Outcome != core.RefreshRotate {
		t.Fatalf("+18 s (9 s after activity): %s, want rotate", fmtDecision(d))
	}
	if d := diffDecision(core.DecideRefresh(at(19*sec)), decIdle); d != "" {
		t.Fatalf("+19 s (exactly 10 s after activity): %s", d)
	}
	if d := diffDecision(core.DecideRefresh(at(20*sec)), decIdle); d != "" {
		t.Fatalf("+20 s (11 s after activity): %s", d)
	}
}

func TestDecideRefresh_LegacyToken_GetsExactlyOneGrandfatherRotation(t *testing.T) {
	in := legacyScenario()
	d := core.DecideRefresh(in)
	next := rotate(t, in, d, "successor")
	if next.Claims.Legacy() {
		t.Fatal("successor of a legacy token is still legacy")
	}
	// The account policy changes again; the successor keeps its snapshot.
	next.Current = core.EffectivePolicy{IdleMinutes: 15, AbsoluteMinutes: 60}
	next.Now = in.Now.Add(30 * minute)
	d2 := core.DecideRefresh(next)
	want := rotated(authT, snapLegacy, next.Now.Add(hour), authT.Add(4*hour), next.Now.Add(hour))
	if diff := diffDecision(d2, want); diff != "" {
		t.Fatal(diff)
	}
}

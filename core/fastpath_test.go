package core_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// The fast path decides nothing the slow path would not: on every row that
// meets the RotationGuard, DecideRefresh rotates with exactly the decision
// PlanFastRotation returned; and where the claims rule the fast path out,
// PlanFastRotation says so.
func TestPlanFastRotation_AgreesWithDecideRefresh(t *testing.T) {
	auth := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	user, session := uuid.New(), uuid.New()
	hash := core.HashJTI("current")
	for _, snap := range []core.Snapshot{{IdleSeconds: 900, AbsoluteSeconds: 3600}, {IdleSeconds: 259200, AbsoluteSeconds: 1209600}} {
		for _, elapsed := range []time.Duration{0, time.Second, 10 * time.Minute, snap.Idle() - time.Second, snap.Absolute() - time.Second, snap.Absolute()} {
			now := auth.Add(elapsed)
			issued := now.Add(-time.Second)
			if elapsed == 0 {
				issued = now
			}
			c := core.RefreshClaims{
				Subject: user, SessionID: session, JTI: "current", IssuedAt: issued,
				ExpiresAt: issued.Add(snap.Idle()), AuthTime: &auth, IdleMax: snap.IdleSeconds, AbsMax: snap.AbsoluteSeconds,
			}
			g, fast, ok := core.PlanFastRotation(c, hash, now)
			// A row exactly as the guard states.
			f := core.FamilyState{
				SessionID: g.SessionID, UserID: g.UserID, UserActive: true, AuthTime: g.AuthTime, Snapshot: g.Snapshot,
				IdleExpiresAt: c.ExpiresAt, AbsoluteExpiresAt: g.AbsoluteExpiresAt, CurrentJTIHash: g.PresentedHash,
			}
			slow := core.DecideRefresh(core.RefreshInput{Now: now, Claims: c, PresentedHash: hash, Family: f, Grace: 10 * time.Second})
			wantFast := now.Before(c.ExpiresAt) && now.Before(auth.Add(snap.Absolute()))
			if ok != wantFast {
				t.Fatalf("snap %+v elapsed %v: fast path planned %v, want %v", snap, elapsed, ok, wantFast)
			}
			if !ok {
				continue
			}
			if !g.Now.Equal(now) || g.SessionID != session || g.UserID != user {
				t.Fatalf("guard %+v", g)
			}
			if slow.Outcome != core.RefreshRotate || slow.Snapshot != fast.Snapshot || !slow.AuthTime.Equal(fast.AuthTime) ||
				!slow.IdleExpiresAt.Equal(fast.IdleExpiresAt) || !slow.AbsoluteExpiresAt.Equal(fast.AbsoluteExpiresAt) ||
				!slow.TokenExpiresAt.Equal(fast.TokenExpiresAt) {
				t.Fatalf("snap %+v elapsed %v:\nfast %+v\nslow %+v", snap, elapsed, fast, slow)
			}
		}
	}
	// Legacy tokens and tokens not valid yet always take the slow path.
	now := auth.Add(time.Minute)
	if _, _, ok := core.PlanFastRotation(core.RefreshClaims{Subject: user, SessionID: session, JTI: "x", ExpiresAt: now.Add(time.Hour)}, hash, now); ok {
		t.Error("legacy token planned on the fast path")
	}
	c := core.RefreshClaims{Subject: user, SessionID: session, JTI: "x", ExpiresAt: now.Add(time.Hour), NotBefore: now.Add(time.Hour),
		AuthTime: &auth, IdleMax: 3600, AbsMax: 7200}
	if _, _, ok := core.PlanFastRotation(c, hash, now); ok {
		t.Error("token not valid yet planned on the fast path")
	}
}

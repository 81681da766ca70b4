package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/core"
)

// The refresh rule is core's, stated once (core.DecideRefresh); the fast
// path's statement applies the guard core.PlanFastRotation derives from it.
// For every state of a token family, set up through the store: the
// statement writes exactly when the slow path would rotate to the very
// successor the plan carries, and writes nothing otherwise
// (docs/session-rules.md §3–§4).
func TestRotateIfCurrent_AppliesExactlyWhatDecideRefreshRotates(t *testing.T) {
	ctx := context.Background()
	store := postgres.NewStore(pgtest.Shared(t).AppPool(t, 2))
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	snap := core.Snapshot{IdleSeconds: 900, AbsoluteSeconds: 3600}
	const grace = 10 * time.Second

	type family struct {
		account, user, session uuid.UUID
		jtis                   []string // every token issued, the current one last
	}
	// claims are the refresh claims of jtis[i], issued at its rotation (i
	// seconds after t0, as rotate does), with the snapshot snap.
	claims := func(f family, i int) core.RefreshClaims {
		issued := t0.Add(time.Duration(i) * time.Second)
		return core.RefreshClaims{Subject: f.user, SessionID: f.session, AccountID: f.account, JTI: f.jtis[i],
			IssuedAt: issued, ExpiresAt: core.IdleDeadline(issued.Add(snap.Idle()), t0.Add(snap.Absolute())),
			AuthTime: &t0, IdleMax: snap.IdleSeconds, AbsMax: snap.AbsoluteSeconds}
	}
	lock := func(t *testing.T, f family) (fs core.FamilyState, err error) {
		err = store.InTenantTx(ctx, f.account, func(tx core.TenantTx) error {
			fs, err = tx.SessionLockForRefresh(ctx, f.session)
			return err
		})
		return fs, err
	}
	// rotate writes the rotation of the current token, one second after the
	// previous one, as the slow path decides it.
	rotate := func(t *testing.T, f *family) {
		t.Helper()
		i := len(f.jtis) - 1
		fs, err := lock(t, *f)
		if err != nil {
			t.Fatal(err)
		}
		c := claims(*f, i)
		in := core.RefreshInput{Now: t0.Add(time.Duration(i+1) * time.Second), Claims: c, PresentedHash: core.HashJTI(c.JTI), Family: fs}
		d := core.DecideRefresh(in)
		if d.Outcome != core.RefreshRotate {
			t.Fatalf("setup rotation: %+v", d)
		}
		next := core.NewJTI()
		if err := store.InTenantTx(ctx, f.account, func(tx core.TenantTx) error {
			return tx.SessionRotate(ctx, d.Rotation(in, next, core.Client{}))
		}); err != nil {
			t.Fatal(err)
		}
		f.jtis = append(f.jtis, next)
	}
	// signIn creates an account, its user and a session as the sign-in at
	// t0 writes it; row adjusts the session's row first.
	signIn := func(t *testing.T, row func(*core.NewSession)) family {
		t.Helper()
		f := family{account: newAccount(t, store), user: uuid.New(), session: uuid.New(), jtis: []string{core.NewJTI()}}
		s := core.NewSession{ID: f.session, UserID: f.user, AuthTime: t0, Snapshot: snap, Now: t0,
			IdleExpiresAt: t0.Add(snap.Idle()), AbsoluteExpiresAt: t0.Add(snap.Absolute()),
			JTIHash: core.HashJTI(f.jtis[0]), TokenExpiresAt: t0.Add(snap.Idle()),
			Auth: core.AuthLevel{AAL: 1, AMR: []string{core.AMRPassword}, LastAuthAt: t0}}
		if row != nil {
			row(&s)
		}
		err := store.InTenantTx(ctx, f.account, func(tx core.TenantTx) error {
			u := core.User{ID: f.user, Email: "rot-" + f.user.String() + "@example.com", Name: "R", Role: core.RoleOwner, Active: true, CreatedAt: t0}
			if err := tx.UserCreate(ctx, u, "$argon2id$x"); err != nil {
				return err
			}
			return tx.SessionCreate(ctx, s)
		})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}

	type attempt struct {
		f   family
		c   core.RefreshClaims
		now time.Time
	}
	for _, tc := range []struct {
		name string
		// setup makes the family's state and says what is presented when.
		setup func(t *testing.T) attempt
		// want is the slow path's outcome on that state (a sanity check of
		// the setup), wantWrite whether the fast path must write.
		want      core.RefreshOutcome
		wantWrite bool
	}{
		{"current token", func(t *testing.T) attempt {
			f := signIn(t, nil)
			return attempt{f, claims(f, 0), t0.Add(time.Minute)}
		}, core.RefreshRotate, true},
		{"current token after two rotations", func(t *testing.T) attempt {
			f := signIn(t, nil)
			rotate(t, &f)
			rotate(t, &f)
			return attempt{f, claims(f, 2), t0.Add(time.Minute)}
		}, core.RefreshRotate, true},
		{"predecessor inside the grace window", func(t *testing.T) attempt {
			f := signIn(t, nil)
			rotate(t, &f) // at t0+1s
			return attempt{f, claims(f, 0), t0.Add(grace)}
		}, core.RefreshConverge, false},
		{"predecessor after the grace window", func(t *testing.T) attempt {
			f := signIn(t, nil)
			rotate(t, &f)
			return attempt{f, claims(f, 0), t0.Add(time.Minute)}
		}, core.RefreshReject, false},
		{"older ancestor (reuse)", func(t *testing.T) attempt {
			f := signIn(t, nil)
			rotate(t, &f)
			rotate(t, &f)
			return attempt{f, claims(f, 0), t0.Add(3 * time.Second)}
		}, core.RefreshReject, false},
		{"revoked session", func(t *testing.T) attempt {
			f := signIn(t, nil)
			if err := store.InTenantTx(ctx, f.account, func(tx core.TenantTx) error {
				_, err := tx.SessionRevoke(ctx, f.session, t0.Add(time.Second), core.ReasonLogout)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return attempt{f, claims(f, 0), t0.Add(time.Minute)}
		}, core.RefreshReject, false},
		{"inactive user", func(t *testing.T) attempt {
			f := signIn(t, nil)
			if err := store.InTenantTx(ctx, f.account, func(tx core.TenantTx) error {
				u, err := tx.UserLockForUpdate(ctx, f.user)
				if err != nil {
					return err
				}
				u.Active = false
				return tx.UserUpdate(ctx, u, t0.Add(time.Second))
			}); err != nil {
				t.Fatal(err)
			}
			return attempt{f, claims(f, 0), t0.Add(time.Minute)}
		}, core.RefreshReject, false},
		{"another user's token for the session", func(t *testing.T) attempt {
			f := signIn(t, nil)
			c := claims(f, 0)
			c.Subject = uuid.New()
			return attempt{f, c, t0.Add(time.Minute)}
		}, core.RefreshReject, false},
		{"unknown session", func(t *testing.T) attempt {
			f := signIn(t, nil)
			c := claims(f, 0)
			c.SessionID = uuid.New()
			return attempt{family{account: f.account, user: f.user, session: c.SessionID}, c, t0.Add(time.Minute)}
		}, core.RefreshReject, false},
		{"row idle-expired before the token's exp", func(t *testing.T) attempt {
			f := signIn(t, func(s *core.NewSession) { s.IdleExpiresAt = t0.Add(5 * time.Minute) })
			return attempt{f, claims(f, 0), t0.Add(6 * time.Minute)}
		}, core.RefreshReject, false},
		{"row idle deadline exactly now", func(t *testing.T) attempt {
			f := signIn(t, func(s *core.NewSession) { s.IdleExpiresAt = t0.Add(5 * time.Minute) })
			return attempt{f, claims(f, 0), t0.Add(5 * time.Minute)}
		}, core.RefreshReject, false},
		{"token idle-expired (claims rule the fast path out)", func(t *testing.T) attempt {
			f := signIn(t, nil)
			return attempt{f, claims(f, 0), t0.Add(snap.Idle())}
		}, core.RefreshReject, false},
		{"absolute cap reached", func(t *testing.T) attempt {
			f := signIn(t, nil)
			c := claims(f, 0)
			c.ExpiresAt = t0.Add(2 * time.Hour)
			return attempt{f, c, t0.Add(snap.Absolute())}
		}, core.RefreshReject, false},
		{"row's absolute deadline earlier than the claims'", func(t *testing.T) attempt {
			f := signIn(t, func(s *core.NewSession) { s.AbsoluteExpiresAt = t0.Add(30 * time.Minute) })
			return attempt{f, claims(f, 0), t0.Add(time.Minute)}
		}, core.RefreshRotate, false},
		{"row's snapshot differs from the claims'", func(t *testing.T) attempt {
			f := signIn(t, func(s *core.NewSession) { s.Snapshot.IdleSeconds = 600 })
			return attempt{f, claims(f, 0), t0.Add(time.Minute)}
		}, core.RefreshRotate, false},
		{"token not valid yet", func(t *testing.T) attempt {
			f := signIn(t, nil)
			c := claims(f, 0)
			c.NotBefore = t0.Add(10 * time.Minute)
			return attempt{f, c, t0.Add(time.Minute)}
		}, core.RefreshReject, false},
		{"legacy token (no snapshot claims)", func(t *testing.T) attempt {
			f := signIn(t, nil)
			c := claims(f, 0)
			c.AuthTime, c.IdleMax, c.AbsMax = nil, 0, 0
			return attempt{f, c, t0.Add(time.Minute)}
		}, core.RefreshRotate, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.setup(t)
			hash := core.HashJTI(a.c.JTI)
			before, err := lock(t, a.f)
			in := core.RefreshInput{Now: a.now, Claims: a.c, PresentedHash: hash, Family: before, Grace: grace,
				Current: core.DefaultPolicySettings().Effective(core.PolicyOverride{})}
			slow := core.DecideRefresh(in)
			if errors.Is(err, core.ErrNotFound) {
				slow = core.RefreshDecision{Outcome: core.RefreshReject, Code: core.CodeInvalidRefreshToken} // as Service.Refresh
			} else if err != nil {
				t.Fatal(err)
			}
			if slow.Outcome != tc.want {
				t.Fatalf("DecideRefresh: outcome %v (%+v), the setup wants %v", slow.Outcome, slow, tc.want)
			}
			guard, plan, planned := core.PlanFastRotation(a.c, hash, a.now)
			wantWrite := planned && slow.SameRotation(plan)
			if wantWrite != tc.wantWrite {
				t.Fatalf("planned %v, slow %+v, plan %+v: fast path may write = %v, the table says %v", planned, slow, plan, wantWrite, tc.wantWrite)
			}
			wrote := false
			if planned {
				_, ok, err := store.RotateIfCurrent(ctx, a.f.account, guard, plan.Rotation(in, core.NewJTI(), core.Client{}))
				if err != nil {
					t.Fatal(err)
				}
				wrote = ok
			}
			if wrote != wantWrite {
				t.Fatalf("RotateIfCurrent applied = %v; DecideRefresh %+v, plan %+v", wrote, slow, plan)
			}
			after, err := lock(t, a.f)
			if errors.Is(err, core.ErrNotFound) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rotated := after.Generation == before.Generation+1 && bytes.Equal(after.PreviousJTIHash, hash)
			if rotated != wrote || (!wrote && (after.Generation != before.Generation || !bytes.Equal(after.CurrentJTIHash, before.CurrentJTIHash))) {
				t.Fatalf("row before %+v, after %+v; applied %v", before, after, wrote)
			}
			if wrote && (!after.IdleExpiresAt.Equal(plan.IdleExpiresAt) || !after.AbsoluteExpiresAt.Equal(plan.AbsoluteExpiresAt)) {
				t.Fatalf("row after %+v, plan %+v", after, plan)
			}
		})
	}
}

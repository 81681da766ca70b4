package storetest

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// testTenantIsolation: inside tenant A's transaction nothing of tenant B is
// visible or changeable (RLS-01 … RLS-07, docs/security-checklist.md;
// docs/session-rules.md §7).
func testTenantIsolation(t *testing.T, e *env) {
	a, b := e.newTenant(), e.newTenant()
	bs := e.newSession(b.account, b.owner.ID, defaultSpec)
	resetHash := core.HashJTI(core.NewJTI())
	e.tx(b.account, func(tx core.TenantTx) error {
		if err := tx.Audit(e.ctx, core.AuditEvent{AccountID: b.account, Action: core.ActionLoginSucceeded,
			ResourceType: "user", ResourceID: b.owner.ID.String(), At: t0}.Normalized()); err != nil {
			return err
		}
		return tx.PasswordResetTokenCreate(e.ctx, core.PasswordResetToken{Hash: resetHash, UserID: b.owner.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	})
	now := t0.Add(time.Minute)

	e.tx(a.account, func(tx core.TenantTx) error {
		if _, err := tx.UserGet(e.ctx, b.owner.ID); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("UserGet(B's user) in A: err = %v, want ErrNotFound", err)
		}
		if err := tx.UserUpdate(e.ctx, core.User{ID: b.owner.ID, Role: core.RoleMember, Name: "x"}, now); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("UserUpdate(B's user) in A: err = %v, want ErrNotFound", err)
		}
		if _, err := tx.SessionOwner(e.ctx, bs.ID); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("SessionOwner(B's session) in A: err = %v, want ErrNotFound", err)
		}
		if ok, err := tx.SessionRevoke(e.ctx, bs.ID, now, core.ReasonLogout); err != nil || ok {
			t.Errorf("SessionRevoke(B's session) in A = %v, %v; want false, nil", ok, err)
		}
		if n, err := tx.SessionRevokeAllForUser(e.ctx, b.owner.ID, nil, now, core.ReasonLogoutAll); err != nil || n != 0 {
			t.Errorf("SessionRevokeAllForUser(B's user) in A = %d, %v; want 0", n, err)
		}
		if list, err := tx.SessionListLive(e.ctx, b.owner.ID, now); err != nil || len(list) != 0 {
			t.Errorf("SessionListLive(B's user) in A = %d sessions, %v; want none", len(list), err)
		}
		if _, err := tx.PasswordResetTokenLock(e.ctx, resetHash); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("PasswordResetTokenLock(B's token) in A: err = %v, want ErrNotFound", err)
		}
		if evs, err := tx.AuditList(e.ctx, core.AuditQuery{Limit: 100}); err != nil || len(evs) != 0 {
			t.Errorf("AuditList in A = %d events, %v; want none (B's are not A's)", len(evs), err)
		}
		return nil
	})
	// A's store-level readings with B's ids see nothing either.
	if ok, err := e.s.SessionIsLive(e.ctx, a.account, bs.ID, now); err != nil || ok {
		t.Errorf("SessionIsLive(A, B's session) = %v, %v; want false", ok, err)
	}
	if _, err := e.s.UserIfSessionLive(e.ctx, a.account, bs.ID, b.owner.ID, now); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("UserIfSessionLive(A, B's session): err = %v, want ErrNotFound", err)
	}
	// B's rows are untouched.
	if l := e.liveness(b.account, b.owner.ID, bs.ID, now); l != (live{true, true, true, true}) {
		t.Errorf("B's session after A's attempts: %+v, want live everywhere", l)
	}
	if got := e.auditActions(b.account); len(got) != 1 {
		t.Errorf("B's audit after A's attempts: %v, want its one event", got)
	}
}

// testUserForLogin: the pre-tenant sign-in lookup finds a user by their
// normalised email across tenants (LGN-05), reports inactive users as
// such, and answers ErrNotFound for an unknown email.
func testUserForLogin(t *testing.T, e *env) {
	tn := e.newTenant()
	lu, err := e.s.UserForLogin(e.ctx, core.NormalizeEmail(tn.owner.Email))
	if err != nil {
		t.Fatalf("UserForLogin(known): %v", err)
	}
	if lu.UserID != tn.owner.ID || lu.AccountID != tn.account || !lu.Active || lu.Role != core.RoleOwner || !lu.EmailVerified || lu.PasswordHash == "" {
		t.Errorf("UserForLogin(known) = %+v", lu)
	}
	if _, err := e.s.UserForLogin(e.ctx, "nobody-"+uuid.NewString()+"@example.com"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("UserForLogin(unknown): err = %v, want ErrNotFound", err)
	}
	m := e.newUser(tn)
	e.tx(tn.account, func(tx core.TenantTx) error {
		return tx.UserUpdate(e.ctx, core.User{ID: m.ID, Role: m.Role, Active: false, Name: m.Name}, t0)
	})
	lu, err = e.s.UserForLogin(e.ctx, m.Email)
	if err != nil || lu.UserID != m.ID || lu.Active {
		t.Errorf("UserForLogin(inactive) = %+v, %v; want the user, not active", lu, err)
	}
	// The store keys on the normalised form core hands it; core normalises
	// (NormalizeEmail) before it asks, so a differently cased address is
	// one the store need not find. What it must not do is find someone
	// else: the upper-case form finds this user or no one.
	lu, err = e.s.UserForLogin(e.ctx, strings.ToUpper(m.Email))
	if err == nil && lu.UserID != m.ID {
		t.Errorf("UserForLogin(upper case) found %v, not the user", lu.UserID)
	}
}

// testUserConflict: a duplicate email is ErrConflict (TenantTx), also
// across tenants (the email is the global sign-in key, LGN-05), and the
// duplicate case-variant of an address too.
func testUserConflict(t *testing.T, e *env) {
	a, b := e.newTenant(), e.newTenant()
	dup := func(account uuid.UUID, email string) error {
		return e.s.InTenantTx(e.ctx, account, func(tx core.TenantTx) error {
			return tx.UserCreate(e.ctx, core.User{ID: uuid.New(), AccountID: account, Email: email, Name: "d",
				Role: core.RoleMember, Active: true, CreatedAt: t0}, "$argon2id$stub")
		})
	}
	wantErr(t, "UserCreate(same email, same tenant)", dup(a.account, a.owner.Email), core.ErrConflict)
	wantErr(t, "UserCreate(same email, other tenant)", dup(b.account, a.owner.Email), core.ErrConflict)
	wantErr(t, "AccountCreate(existing id)", e.s.InTenantTx(e.ctx, a.account, func(tx core.TenantTx) error {
		return tx.AccountCreate(e.ctx, core.Account{ID: a.account, Name: "again", CreatedAt: t0})
	}), core.ErrConflict)
}

// testNotFound: unknown ids are ErrNotFound (TenantTx: "Not-found is
// ErrNotFound").
func testNotFound(t *testing.T, e *env) {
	tn := e.newTenant()
	id := uuid.New()
	e.tx(tn.account, func(tx core.TenantTx) error {
		_, err := tx.UserGet(e.ctx, id)
		wantErr(t, "UserGet", err, core.ErrNotFound)
		_, _, err = tx.UserAccess(e.ctx, id)
		wantErr(t, "UserAccess", err, core.ErrNotFound)
		_, _, err = tx.UserLockCredentials(e.ctx, id)
		wantErr(t, "UserLockCredentials", err, core.ErrNotFound)
		_, err = tx.SessionLockForRefresh(e.ctx, id)
		wantErr(t, "SessionLockForRefresh", err, core.ErrNotFound)
		_, err = tx.SessionOwner(e.ctx, id)
		wantErr(t, "SessionOwner", err, core.ErrNotFound)
		_, err = tx.PasswordResetTokenLock(e.ctx, core.HashJTI(core.NewJTI()))
		wantErr(t, "PasswordResetTokenLock", err, core.ErrNotFound)
		_, err = tx.InvitationLock(e.ctx, id)
		wantErr(t, "InvitationLock", err, core.ErrNotFound)
		_, err = tx.FactorGet(e.ctx, id)
		wantErr(t, "FactorGet", err, core.ErrNotFound)
		wantErr(t, "UserUpdate", tx.UserUpdate(e.ctx, core.User{ID: id, Role: core.RoleMember}, t0), core.ErrNotFound)
		wantErr(t, "UserDelete", tx.UserDelete(e.ctx, id), core.ErrNotFound)
		return nil
	})
	if _, err := e.s.SessionAccount(e.ctx, id); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("SessionAccount(unknown): err = %v, want ErrNotFound", err)
	}
	wantErr(t, "AccountPolicyForUpdate(unknown account)", e.s.InTenantTx(e.ctx, uuid.New(), func(tx core.TenantTx) error {
		_, err := tx.AccountPolicyForUpdate(e.ctx)
		return err
	}), core.ErrNotFound)
}

// testSessionLiveness: SessionIsLive, Store.SessionListLive,
// TenantTx.SessionListLive and UserIfSessionLive agree on live, revoked,
// idle-expired and absolute-expired sessions; a deadline's instant itself
// is already past (docs/session-rules.md §3).
func testSessionLiveness(t *testing.T, e *env) {
	tn := e.newTenant()
	u := tn.owner.ID
	yes, no := live{true, true, true, true}, live{}
	liveS := e.newSession(tn.account, u, defaultSpec)
	revoked := e.newSession(tn.account, u, defaultSpec)
	idle := e.newSession(tn.account, u, sessionSpec{idle: time.Minute, abs: time.Hour})
	abs := e.newSession(tn.account, u, sessionSpec{idle: time.Minute, abs: time.Minute})
	e.tx(tn.account, func(tx core.TenantTx) error {
		_, err := tx.SessionRevoke(e.ctx, revoked.ID, t0.Add(time.Second), core.ReasonLogout)
		return err
	})
	for _, c := range []struct {
		name string
		id   uuid.UUID
		at   time.Time
		want live
	}{
		{"live", liveS.ID, t0.Add(5 * time.Minute), yes},
		{"revoked", revoked.ID, t0.Add(2 * time.Second), no},
		{"idle before deadline", idle.ID, t0.Add(time.Minute - time.Millisecond), yes},
		{"idle at deadline", idle.ID, t0.Add(time.Minute), no},
		{"idle past deadline", idle.ID, t0.Add(2 * time.Minute), no},
		{"absolute at deadline", abs.ID, t0.Add(time.Minute), no},
		{"absolute past deadline", abs.ID, t0.Add(time.Hour), no},
	} {
		if got := e.liveness(tn.account, u, c.id, c.at); got != c.want {
			t.Errorf("%s: liveness %+v, want %+v", c.name, got, c.want)
		}
	}
	// Another user's id with a live session is not that session's user.
	other := e.newUser(tn)
	if _, err := e.s.UserIfSessionLive(e.ctx, tn.account, liveS.ID, other.ID, t0); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("UserIfSessionLive(another user): err = %v, want ErrNotFound", err)
	}
}

// rotation is the rotation of s's current token fs at now.
func rotation(fs core.FamilyState, now time.Time) core.Rotation {
	return core.Rotation{
		SessionID: fs.SessionID, OldJTIHash: fs.CurrentJTIHash, NewJTIHash: core.HashJTI(core.NewJTI()),
		Now: now, AuthTime: fs.AuthTime, Snapshot: fs.Snapshot,
		IdleExpiresAt: now.Add(time.Duration(fs.Snapshot.IdleSeconds) * time.Second), AbsoluteExpiresAt: fs.AbsoluteExpiresAt,
		TokenExpiresAt: now.Add(time.Duration(fs.Snapshot.IdleSeconds) * time.Second),
	}
}

// testSessionLockAndRotate: the refresh slow path reads the row as created
// and SessionRotate moves current to previous, the new token current,
// generation up by one, idle deadline slid (docs/session-rules.md §3).
func testSessionLockAndRotate(t *testing.T, e *env) {
	tn := e.newTenant()
	s := e.newSession(tn.account, tn.owner.ID, defaultSpec)
	fs := e.lock(tn.account, s.ID)
	if fs.SessionID != s.ID || fs.UserID != tn.owner.ID || !fs.UserActive || fs.Role != core.RoleOwner ||
		!bytes.Equal(fs.CurrentJTIHash, s.JTIHash) || fs.RevokedAt != nil || fs.Snapshot != s.Snapshot ||
		!fs.AbsoluteExpiresAt.Equal(s.AbsoluteExpiresAt) || !fs.IdleExpiresAt.Equal(s.IdleExpiresAt) || !fs.AuthTime.Equal(s.AuthTime) {
		t.Fatalf("SessionLockForRefresh = %+v, want the session as created", fs)
	}
	now := t0.Add(5 * time.Minute)
	r := rotation(fs, now)
	e.tx(tn.account, func(tx core.TenantTx) error {
		if _, err := tx.SessionLockForRefresh(e.ctx, s.ID); err != nil {
			return err
		}
		return tx.SessionRotate(e.ctx, r)
	})
	after := e.lock(tn.account, s.ID)
	if !bytes.Equal(after.CurrentJTIHash, r.NewJTIHash) || !bytes.Equal(after.PreviousJTIHash, s.JTIHash) ||
		after.Generation != fs.Generation+1 || !after.IdleExpiresAt.Equal(r.IdleExpiresAt) || after.RotatedAt == nil {
		t.Errorf("after SessionRotate: %+v", after)
	}
	// A rotation from a token that is no longer current is an error and
	// changes nothing.
	stale := rotation(fs, now.Add(time.Minute))
	if err := e.s.InTenantTx(e.ctx, tn.account, func(tx core.TenantTx) error { return tx.SessionRotate(e.ctx, stale) }); err == nil {
		t.Errorf("SessionRotate(stale old hash): nil error")
	}
	if again := e.lock(tn.account, s.ID); !bytes.Equal(again.CurrentJTIHash, r.NewJTIHash) || again.Generation != after.Generation {
		t.Errorf("stale SessionRotate wrote: %+v", again)
	}
}

// testSessionRevoke: revoking a live session is true once, then false
// (already revoked), and false for an unknown session (TenantTx,
// docs/session-rules.md §5).
func testSessionRevoke(t *testing.T, e *env) {
	tn := e.newTenant()
	s := e.newSession(tn.account, tn.owner.ID, defaultSpec)
	now := t0.Add(time.Minute)
	for i, want := range []bool{true, false} {
		e.tx(tn.account, func(tx core.TenantTx) error {
			ok, err := tx.SessionRevoke(e.ctx, s.ID, now, core.ReasonLogout)
			if ok != want {
				t.Errorf("SessionRevoke #%d = %v, want %v", i+1, ok, want)
			}
			return err
		})
	}
	e.tx(tn.account, func(tx core.TenantTx) error {
		ok, err := tx.SessionRevoke(e.ctx, uuid.New(), now, core.ReasonLogout)
		if ok {
			t.Errorf("SessionRevoke(unknown) = true")
		}
		return err
	})
	if fs := e.lock(tn.account, s.ID); fs.RevokedAt == nil || !fs.RevokedAt.Equal(now) {
		t.Errorf("revoked_at = %v, want %v (the first revocation's)", fs.RevokedAt, now)
	}
}

// testRevokeAllForUser: all the user's live sessions but except, counted
// (an idle-expired one is not live: neither counted nor stamped); other
// users' untouched (docs/session-rules.md §5: logout-all, password
// change).
func testRevokeAllForUser(t *testing.T, e *env) {
	tn := e.newTenant()
	u, other := tn.owner.ID, e.newUser(tn).ID
	keep, s1, s2 := e.newSession(tn.account, u, defaultSpec), e.newSession(tn.account, u, defaultSpec), e.newSession(tn.account, u, defaultSpec)
	os := e.newSession(tn.account, other, defaultSpec)
	expired := e.newSession(tn.account, u, sessionSpec{idle: time.Second, abs: time.Hour})
	now := t0.Add(time.Minute)
	e.tx(tn.account, func(tx core.TenantTx) error {
		if _, err := tx.SessionRevoke(e.ctx, s2.ID, t0.Add(time.Second), core.ReasonLogout); err != nil {
			return err
		}
		n, err := tx.SessionRevokeAllForUser(e.ctx, u, &keep.ID, now, core.ReasonLogoutAll)
		if n != 1 {
			t.Errorf("SessionRevokeAllForUser = %d, want 1 (s1; s2 was revoked, expired is not live, keep excepted)", n)
		}
		return err
	})
	for _, c := range []struct {
		id, user uuid.UUID
		live     bool
	}{{keep.ID, u, true}, {s1.ID, u, false}, {s2.ID, u, false}, {os.ID, other, true}} {
		if ok, _ := e.s.SessionIsLive(e.ctx, tn.account, c.id, now); ok != c.live {
			t.Errorf("session %s live = %v, want %v", c.id, ok, c.live)
		}
	}
	if fs := e.lock(tn.account, expired.ID); fs.RevokedAt != nil {
		t.Errorf("idle-expired session revoked at %v, want left as it was", fs.RevokedAt)
	}
	e.tx(tn.account, func(tx core.TenantTx) error {
		n, err := tx.SessionRevokeAllForUser(e.ctx, u, nil, now, core.ReasonLogoutAll)
		if n != 1 {
			t.Errorf("SessionRevokeAllForUser(no except) = %d, want 1", n)
		}
		return err
	})
}

// testRevokeAllForAccount: every live session of the tenant but
// exceptUser's, counted; expired and revoked ones left as they are;
// another tenant's untouched.
func testRevokeAllForAccount(t *testing.T, e *env) {
	tn, other := e.newTenant(), e.newTenant()
	m := e.newUser(tn)
	own := e.newSession(tn.account, tn.owner.ID, defaultSpec)
	m1, m2 := e.newSession(tn.account, m.ID, defaultSpec), e.newSession(tn.account, m.ID, defaultSpec)
	expired := e.newSession(tn.account, m.ID, sessionSpec{idle: time.Minute, abs: time.Hour})
	os := e.newSession(other.account, other.owner.ID, defaultSpec)
	now := t0.Add(5 * time.Minute)
	e.tx(tn.account, func(tx core.TenantTx) error {
		n, err := tx.SessionRevokeAllForAccount(e.ctx, &tn.owner.ID, now, core.ReasonBulkRevoke)
		if n != 2 {
			t.Errorf("SessionRevokeAllForAccount = %d, want 2 (m1, m2)", n)
		}
		return err
	})
	for _, c := range []struct {
		id   uuid.UUID
		live bool
	}{{own.ID, true}, {m1.ID, false}, {m2.ID, false}} {
		if ok, _ := e.s.SessionIsLive(e.ctx, tn.account, c.id, now); ok != c.live {
			t.Errorf("session %s live = %v, want %v", c.id, ok, c.live)
		}
	}
	if fs := e.lock(tn.account, expired.ID); fs.RevokedAt != nil {
		t.Errorf("idle-expired session revoked at %v, want left as it was", fs.RevokedAt)
	}
	if ok, _ := e.s.SessionIsLive(e.ctx, other.account, os.ID, now); !ok {
		t.Errorf("other tenant's session revoked")
	}
}

// guard is the fast path's guard for the row fs at now, presenting hash.
func guard(fs core.FamilyState, hash []byte, now time.Time) core.RotationGuard {
	return core.RotationGuard{SessionID: fs.SessionID, UserID: fs.UserID, PresentedHash: hash, Now: now,
		AuthTime: fs.AuthTime, Snapshot: fs.Snapshot, AbsoluteExpiresAt: fs.AbsoluteExpiresAt}
}

// testRotateIfCurrent: the refresh fast path writes only when every
// condition of the guard holds; otherwise ok=false, nil error, nothing
// written (Store.RotateIfCurrent, docs/session-rules.md §3, §4).
func testRotateIfCurrent(t *testing.T, e *env) {
	tn := e.newTenant()
	s := e.newSession(tn.account, tn.owner.ID, defaultSpec)
	fs := e.lock(tn.account, s.ID)
	now := t0.Add(2 * time.Minute)
	r := rotation(fs, now)

	misses := map[string]func(g *core.RotationGuard){
		"wrong hash":     func(g *core.RotationGuard) { g.PresentedHash = core.HashJTI(core.NewJTI()) },
		"wrong user":     func(g *core.RotationGuard) { g.UserID = uuid.New() },
		"unknown":        func(g *core.RotationGuard) { g.SessionID = uuid.New() },
		"idle passed":    func(g *core.RotationGuard) { g.Now = fs.IdleExpiresAt },
		"snapshot":       func(g *core.RotationGuard) { g.Snapshot.IdleSeconds++ },
		"auth time":      func(g *core.RotationGuard) { g.AuthTime = g.AuthTime.Add(time.Second) },
		"absolute":       func(g *core.RotationGuard) { g.AbsoluteExpiresAt = g.AbsoluteExpiresAt.Add(time.Second) },
		"other tenant's": nil,
	}
	for name, mod := range misses {
		g := guard(fs, s.JTIHash, now)
		account := tn.account
		if mod != nil {
			mod(&g)
		} else {
			account = e.newTenant().account
		}
		rr := r
		rr.SessionID = g.SessionID
		_, ok, err := e.s.RotateIfCurrent(e.ctx, account, g, rr)
		if err != nil || ok {
			t.Errorf("RotateIfCurrent(%s) = ok %v, err %v; want false, nil", name, ok, err)
		}
		if got := e.lock(tn.account, s.ID); !bytes.Equal(got.CurrentJTIHash, s.JTIHash) || got.Generation != fs.Generation {
			t.Fatalf("RotateIfCurrent(%s) wrote: %+v", name, got)
		}
	}

	rs, ok, err := e.s.RotateIfCurrent(e.ctx, tn.account, guard(fs, s.JTIHash, now), r)
	if err != nil || !ok {
		t.Fatalf("RotateIfCurrent(guard holds) = ok %v, err %v", ok, err)
	}
	after := e.lock(tn.account, s.ID)
	if rs.Role != core.RoleOwner || rs.Generation != fs.Generation+1 || rs.Generation != after.Generation ||
		!bytes.Equal(after.CurrentJTIHash, r.NewJTIHash) || !bytes.Equal(after.PreviousJTIHash, s.JTIHash) {
		t.Errorf("after RotateIfCurrent: returned %+v, row %+v", rs, after)
	}
	// The presented token is no longer current: the same guard misses now.
	if _, ok, err := e.s.RotateIfCurrent(e.ctx, tn.account, guard(fs, s.JTIHash, now), rotation(fs, now)); ok || err != nil {
		t.Errorf("RotateIfCurrent(replayed) = ok %v, err %v; want false, nil", ok, err)
	}
	// A revoked session and an inactive user miss too.
	s2 := e.newSession(tn.account, tn.owner.ID, defaultSpec)
	fs2 := e.lock(tn.account, s2.ID)
	e.tx(tn.account, func(tx core.TenantTx) error {
		_, err := tx.SessionRevoke(e.ctx, s2.ID, t0.Add(time.Second), core.ReasonLogout)
		return err
	})
	if _, ok, err := e.s.RotateIfCurrent(e.ctx, tn.account, guard(fs2, s2.JTIHash, now), rotation(fs2, now)); ok || err != nil {
		t.Errorf("RotateIfCurrent(revoked) = ok %v, err %v; want false, nil", ok, err)
	}
	m := e.newUser(tn)
	s3 := e.newSession(tn.account, m.ID, defaultSpec)
	fs3 := e.lock(tn.account, s3.ID)
	e.tx(tn.account, func(tx core.TenantTx) error {
		return tx.UserUpdate(e.ctx, core.User{ID: m.ID, Role: m.Role, Active: false, Name: m.Name}, t0)
	})
	if _, ok, err := e.s.RotateIfCurrent(e.ctx, tn.account, guard(fs3, s3.JTIHash, now), rotation(fs3, now)); ok || err != nil {
		t.Errorf("RotateIfCurrent(inactive user) = ok %v, err %v; want false, nil", ok, err)
	}
}

// testInSessionTx: fn runs for a live session only; otherwise
// ErrSessionNotLive and fn does not run (Store.InSessionTx).
func testInSessionTx(t *testing.T, e *env) {
	tn := e.newTenant()
	s := e.newSession(tn.account, tn.owner.ID, sessionSpec{idle: time.Minute, abs: time.Hour})
	ran := false
	run := func(session uuid.UUID, account uuid.UUID, now time.Time) error {
		ran = false
		return e.s.InSessionTx(e.ctx, account, session, now, func(tx core.TenantTx) error {
			ran = true
			_, err := tx.UserGet(e.ctx, tn.owner.ID)
			return err
		})
	}
	if err := run(s.ID, tn.account, t0.Add(time.Second)); err != nil || !ran {
		t.Errorf("InSessionTx(live) = %v, ran %v", err, ran)
	}
	for name, c := range map[string]struct {
		session, account uuid.UUID
		now              time.Time
	}{
		"idle-expired":   {s.ID, tn.account, t0.Add(time.Minute)},
		"unknown":        {uuid.New(), tn.account, t0},
		"other tenant's": {s.ID, e.newTenant().account, t0},
	} {
		err := run(c.session, c.account, c.now)
		if !errors.Is(err, core.ErrSessionNotLive) || ran {
			t.Errorf("InSessionTx(%s) = %v, ran %v; want ErrSessionNotLive, not run", name, err, ran)
		}
	}
	e.tx(tn.account, func(tx core.TenantTx) error {
		_, err := tx.SessionRevoke(e.ctx, s.ID, t0.Add(time.Second), core.ReasonLogout)
		return err
	})
	if err := run(s.ID, tn.account, t0.Add(2*time.Second)); !errors.Is(err, core.ErrSessionNotLive) || ran {
		t.Errorf("InSessionTx(revoked) = %v, ran %v; want ErrSessionNotLive, not run", err, ran)
	}
}

var rule = core.ThrottleRule{Threshold: 2, BaseDelay: 10 * time.Second, MaxDelay: 25 * time.Second, Window: time.Hour}

// testRecordFailure: the brute-force counter's arithmetic
// (docs/session-rules.md §8, LGN-05/LGN-09): counted below the threshold
// without a lock; from the threshold on, each failure locks for BaseDelay
// doubling up to MaxDelay; a failure while locked is neither counted nor
// extends the lock; a Window without failures forgets them. Each key
// counts on its own, and the audit event lands in its tenant.
func testRecordFailure(t *testing.T, e *env) {
	tn := e.newTenant()
	k1, k2 := core.ThrottleKey(uuid.NewString()), core.DeviceThrottleKey(uuid.NewString())
	record := func(now time.Time, keys ...[]byte) []core.ThrottleState {
		t.Helper()
		st, err := e.s.RecordFailure(e.ctx, core.FailureRecord{Keys: keys, Now: now, Rule: rule})
		if err != nil || len(st) != len(keys) {
			t.Fatalf("RecordFailure at %v = %v, %v", now.Sub(t0), st, err)
		}
		return st
	}
	steps := []struct {
		at   time.Duration
		want core.ThrottleState
	}{
		{0, core.ThrottleState{Failures: 1}},
		{time.Second, core.ThrottleState{Failures: 2, LockedUntil: t0.Add(11 * time.Second)}},
		{5 * time.Second, core.ThrottleState{Failures: 2, LockedUntil: t0.Add(11 * time.Second)}}, // locked: not counted
		{11 * time.Second, core.ThrottleState{Failures: 3, LockedUntil: t0.Add(31 * time.Second)}},
		{31 * time.Second, core.ThrottleState{Failures: 4, LockedUntil: t0.Add(56 * time.Second)}}, // 40 s capped at 25 s
		{56*time.Second + time.Hour, core.ThrottleState{Failures: 1}},                              // window passed
	}
	for _, s := range steps {
		got := record(t0.Add(s.at), k1)[0]
		if got.Failures != s.want.Failures || !got.LockedUntil.Equal(s.want.LockedUntil) {
			t.Errorf("at +%v: %+v, want %+v", s.at, got, s.want)
		}
	}
	// Two keys in one record, in order; k2 is fresh.
	st := record(t0.Add(2*time.Hour), k2, k1)
	if st[0].Failures != 1 || st[1].Failures != 2 {
		t.Errorf("RecordFailure(k2, k1) = %+v, want failures 1 and 2", st)
	}
	if cur, err := e.s.ThrottleCheck(e.ctx, k2, t0.Add(2*time.Hour)); err != nil || cur.Failures != 1 {
		t.Errorf("ThrottleCheck(k2) = %+v, %v", cur, err)
	}
	// With an audit event: it is stored in its tenant.
	ev := core.AuditEvent{AccountID: tn.account, Action: core.ActionLoginFailed, ResourceType: "user",
		ResourceID: tn.owner.ID.String(), At: t0.Add(3 * time.Hour)}.Normalized()
	if _, err := e.s.RecordFailure(e.ctx, core.FailureRecord{Keys: [][]byte{core.ThrottleKey(uuid.NewString())},
		Now: t0.Add(3 * time.Hour), Rule: rule, Audit: &ev}); err != nil {
		t.Fatal(err)
	}
	if got := e.auditActions(tn.account); !slices.Equal(got, []string{core.ActionLoginFailed}) {
		t.Errorf("audit after RecordFailure = %v", got)
	}
}

// testRecordResetRequest: the reset-mail rate (LGN-11): before is the
// state read, after the state counted under the rule, the same arithmetic
// as the brute-force counter.
func testRecordResetRequest(t *testing.T, e *env) {
	key := core.ResetMailKey(uuid.NewString() + "@example.com")
	r1 := core.ThrottleRule{Threshold: 1, BaseDelay: time.Minute, MaxDelay: 4 * time.Minute, Window: time.Hour}
	req := func(at time.Duration) (core.ThrottleState, core.ThrottleState) {
		t.Helper()
		b, a, err := e.s.RecordResetRequest(e.ctx, core.ResetRequestRecord{Key: key, Now: t0.Add(at), Rule: r1})
		if err != nil {
			t.Fatalf("RecordResetRequest at +%v: %v", at, err)
		}
		return b, a
	}
	eq := func(x, y core.ThrottleState) bool {
		return x.Failures == y.Failures && x.LockedUntil.Equal(y.LockedUntil)
	}
	for _, s := range []struct {
		at            time.Duration
		before, after core.ThrottleState
	}{
		{0, core.ThrottleState{}, core.ThrottleState{Failures: 1, LockedUntil: t0.Add(time.Minute)}},
		{30 * time.Second, core.ThrottleState{Failures: 1, LockedUntil: t0.Add(time.Minute)}, core.ThrottleState{Failures: 1, LockedUntil: t0.Add(time.Minute)}},
		{time.Minute, core.ThrottleState{Failures: 1, LockedUntil: t0.Add(time.Minute)}, core.ThrottleState{Failures: 2, LockedUntil: t0.Add(3 * time.Minute)}},
	} {
		b, a := req(s.at)
		if !eq(b, s.before) || !eq(a, s.after) {
			t.Errorf("at +%v: before %+v after %+v; want %+v, %+v", s.at, b, a, s.before, s.after)
		}
	}
}

// testPreTenantLookups: the narrow pre-tenant lookups find the tenant of a
// token by its hash whatever its state, ErrNotFound when unknown (Store).
func testPreTenantLookups(t *testing.T, e *env) {
	tn := e.newTenant()
	reset, verify, inv, mfa := core.HashJTI(core.NewJTI()), core.HashJTI(core.NewJTI()), core.HashJTI(core.NewJTI()), core.HashJTI(core.NewJTI())
	used := t0.Add(time.Minute)
	e.tx(tn.account, func(tx core.TenantTx) error {
		tok := core.PasswordResetToken{UserID: tn.owner.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		tok.Hash = reset
		if err := tx.PasswordResetTokenCreate(e.ctx, tok); err != nil {
			return err
		}
		if _, err := tx.PasswordResetTokensConsume(e.ctx, tn.owner.ID, used); err != nil { // used: still found
			return err
		}
		tok.Hash = verify
		if err := tx.EmailVerificationTokenCreate(e.ctx, tok); err != nil {
			return err
		}
		if err := tx.InvitationCreate(e.ctx, core.Invitation{ID: uuid.New(), AccountID: tn.account, Email: "i-" + uuid.NewString() + "@example.com",
			Role: core.RoleMember, InvitedBy: &tn.owner.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), LastSentAt: t0, SendCount: 1}, inv); err != nil {
			return err
		}
		return tx.MFAChallengeCreate(e.ctx, core.MFAChallenge{ID: uuid.New(), UserID: tn.owner.ID, TokenHash: mfa,
			ExpiresAt: t0.Add(5 * time.Minute), CreatedAt: t0})
	})
	for name, f := range map[string]func([]byte) (uuid.UUID, error){
		"PasswordResetAccount":     func(h []byte) (uuid.UUID, error) { return e.s.PasswordResetAccount(e.ctx, h) },
		"EmailVerificationAccount": func(h []byte) (uuid.UUID, error) { return e.s.EmailVerificationAccount(e.ctx, h) },
		"InvitationAccount":        func(h []byte) (uuid.UUID, error) { return e.s.InvitationAccount(e.ctx, h) },
	} {
		hash := map[string][]byte{"PasswordResetAccount": reset, "EmailVerificationAccount": verify, "InvitationAccount": inv}[name]
		if got, err := f(hash); err != nil || got != tn.account {
			t.Errorf("%s(known) = %v, %v; want %v", name, got, err, tn.account)
		}
		if _, err := f(core.HashJTI(core.NewJTI())); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("%s(unknown): err = %v, want ErrNotFound", name, err)
		}
	}
	if a, u, err := e.s.MFAChallengeOwner(e.ctx, mfa); err != nil || a != tn.account || u != tn.owner.ID {
		t.Errorf("MFAChallengeOwner(known) = %v, %v, %v", a, u, err)
	}
	if _, _, err := e.s.MFAChallengeOwner(e.ctx, core.HashJTI(core.NewJTI())); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("MFAChallengeOwner(unknown): err = %v, want ErrNotFound", err)
	}
}

// testAuditRollback: an audit event is written in the transaction of its
// change, so a transaction whose fn fails stores neither (AuditEvent,
// AUD-01); fn's error comes back as it is.
func testAuditRollback(t *testing.T, e *env) {
	tn := e.newTenant()
	boom := errors.New("fn failed")
	ev := func(action string) core.AuditEvent {
		return core.AuditEvent{AccountID: tn.account, Action: action, ResourceType: "user", ResourceID: tn.owner.ID.String(), At: t0}.Normalized()
	}
	err := e.s.InTenantTx(e.ctx, tn.account, func(tx core.TenantTx) error {
		if err := tx.Audit(e.ctx, ev(core.ActionLogout)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("InTenantTx = %v, want fn's error", err)
	}
	e.tx(tn.account, func(tx core.TenantTx) error { return tx.Audit(e.ctx, ev(core.ActionLoginSucceeded)) })
	if got := e.auditActions(tn.account); !slices.Equal(got, []string{core.ActionLoginSucceeded}) {
		t.Errorf("audit = %v, want only the committed event", got)
	}
}

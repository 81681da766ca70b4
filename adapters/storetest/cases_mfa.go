package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// Second factors (docs/session-rules.md §11): a user's factor and recovery
// codes as the port documents them, each tenant's its own.

// factorOf reads the user's factor (FactorGet and FactorLock must agree)
// and its error.
func (e *env) factorOf(account, user uuid.UUID) (f core.Factor, err error) {
	e.t.Helper()
	_ = e.s.InTenantTx(e.ctx, account, func(tx core.TenantTx) error {
		f, err = tx.FactorGet(e.ctx, user)
		locked, lerr := tx.FactorLock(e.ctx, user)
		if !errors.Is(lerr, err) || !factorEqual(f, locked) {
			e.t.Errorf("FactorLock = %+v, %v; FactorGet = %+v, %v; want the same", locked, lerr, f, err)
		}
		return nil
	})
	return f, err
}

func factorEqual(a, b core.Factor) bool {
	return a.ID == b.ID && a.UserID == b.UserID && bytes.Equal(a.SecretSealed, b.SecretSealed) &&
		timeEqual(a.ConfirmedAt, b.ConfirmedAt) && a.CreatedAt.Equal(b.CreatedAt) &&
		((a.LastUsedStep == nil) == (b.LastUsedStep == nil)) && (a.LastUsedStep == nil || *a.LastUsedStep == *b.LastUsedStep)
}

func timeEqual(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }

// withMFA is UsersWithMFA of one user.
func (e *env) withMFA(account, user uuid.UUID) (ok bool) {
	e.t.Helper()
	e.tx(account, func(tx core.TenantTx) error {
		m, err := tx.UsersWithMFA(e.ctx, []uuid.UUID{user})
		ok = m[user]
		return err
	})
	return ok
}

// testFactor: a TOTP factor is stored pending, one per user (a second is a
// conflict); FactorMarkUsed records the step and confirms it once (a later
// use keeps the first confirmation); only a confirmed factor counts in
// UsersWithMFA and AccountPolicyForSignIn; FactorsDelete removes it; no
// other tenant reads or removes it (docs/session-rules.md §11, MFA-08).
func testFactor(t *testing.T, e *env) {
	a, b := e.newTenant(), e.newTenant()
	u := a.owner.ID
	if _, err := e.factorOf(a.account, u); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("FactorGet(none): err = %v, want ErrNotFound", err)
	}
	f := core.Factor{ID: uuid.New(), UserID: u, SecretSealed: []byte("sealed-" + uuid.NewString()), CreatedAt: t0}
	e.tx(a.account, func(tx core.TenantTx) error { return tx.FactorCreate(e.ctx, f) })
	if got, err := e.factorOf(a.account, u); err != nil || !factorEqual(got, f) || got.Confirmed() {
		t.Errorf("FactorGet = %+v, %v; want %+v, pending", got, err, f)
	}
	wantErr(t, "FactorCreate(second for the user)", e.s.InTenantTx(e.ctx, a.account, func(tx core.TenantTx) error {
		return tx.FactorCreate(e.ctx, core.Factor{ID: uuid.New(), UserID: u, SecretSealed: []byte("x"), CreatedAt: t0})
	}), core.ErrConflict)
	if e.withMFA(a.account, u) {
		t.Errorf("UsersWithMFA: a pending factor counts")
	}

	confirmed, later := t0.Add(time.Minute), t0.Add(2*time.Minute)
	for _, use := range []struct {
		step int64
		at   time.Time
	}{{100, confirmed}, {104, later}} {
		e.tx(a.account, func(tx core.TenantTx) error { return tx.FactorMarkUsed(e.ctx, f.ID, use.step, use.at) })
		got, err := e.factorOf(a.account, u)
		if err != nil || !timeEqual(got.ConfirmedAt, &confirmed) || got.LastUsedStep == nil || *got.LastUsedStep != use.step {
			t.Errorf("after FactorMarkUsed(%d) at %v: %+v, %v; want confirmed at %v, step %d", use.step, use.at, got, err, confirmed, use.step)
		}
	}
	if !e.withMFA(a.account, u) {
		t.Errorf("UsersWithMFA: a confirmed factor does not count")
	}
	e.tx(a.account, func(tx core.TenantTx) error {
		_, has, err := tx.AccountPolicyForSignIn(e.ctx, u)
		if !has {
			t.Errorf("AccountPolicyForSignIn: no confirmed factor, want one")
		}
		return err
	})

	// Tenant B neither sees nor removes A's factor.
	if _, err := e.factorOf(b.account, u); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("FactorGet(A's user) in B: err = %v, want ErrNotFound", err)
	}
	if e.withMFA(b.account, u) {
		t.Errorf("UsersWithMFA(A's user) in B = true")
	}
	deleted := func(account uuid.UUID) (n int64) {
		e.tx(account, func(tx core.TenantTx) (err error) { n, err = tx.FactorsDelete(e.ctx, u); return err })
		return n
	}
	if n := deleted(b.account); n != 0 {
		t.Errorf("FactorsDelete(A's user) in B = %d, want 0", n)
	}
	if n := deleted(a.account); n != 1 {
		t.Errorf("FactorsDelete = %d, want 1", n)
	}
	if _, err := e.factorOf(a.account, u); !errors.Is(err, core.ErrNotFound) || e.withMFA(a.account, u) {
		t.Errorf("FactorGet after FactorsDelete: err = %v, want ErrNotFound", err)
	}
	if n := deleted(a.account); n != 0 {
		t.Errorf("FactorsDelete again = %d, want 0", n)
	}
}

// testRecoveryCodes: RecoveryCodesReplace replaces the set; each code is
// spent once (RecoveryCodeUse true, then false); the count of the unused
// follows; another user's or tenant's codes are not spent by the hash
// (MFA-04).
func testRecoveryCodes(t *testing.T, e *env) {
	a, b := e.newTenant(), e.newTenant()
	u, m := a.owner.ID, e.newUser(a).ID
	codes := [][]byte{core.HashJTI(core.NewJTI()), core.HashJTI(core.NewJTI()), core.HashJTI(core.NewJTI())}
	remaining := func(account, user uuid.UUID) (n int) {
		e.tx(account, func(tx core.TenantTx) (err error) { n, err = tx.RecoveryCodesRemaining(e.ctx, user); return err })
		return n
	}
	use := func(account, user uuid.UUID, h []byte) (ok bool) {
		e.tx(account, func(tx core.TenantTx) (err error) { ok, err = tx.RecoveryCodeUse(e.ctx, user, h, t0); return err })
		return ok
	}
	replace := func(hashes [][]byte) {
		e.tx(a.account, func(tx core.TenantTx) error { return tx.RecoveryCodesReplace(e.ctx, u, hashes, t0) })
	}
	replace(codes)
	if n := remaining(a.account, u); n != 3 {
		t.Errorf("RecoveryCodesRemaining = %d, want 3", n)
	}
	if use(a.account, m, codes[0]) || use(b.account, u, codes[0]) {
		t.Errorf("RecoveryCodeUse: another user's or tenant's use spent the code")
	}
	for i, want := range []bool{true, false} {
		if got := use(a.account, u, codes[0]); got != want {
			t.Errorf("RecoveryCodeUse #%d = %v, want %v", i+1, got, want)
		}
	}
	if n := remaining(a.account, u); n != 2 {
		t.Errorf("RecoveryCodesRemaining after a use = %d, want 2", n)
	}
	fresh := [][]byte{core.HashJTI(core.NewJTI())}
	replace(fresh)
	if n := remaining(a.account, u); n != 1 || use(a.account, u, codes[1]) {
		t.Errorf("after RecoveryCodesReplace: %d remaining, old codes usable; want 1, none", n)
	}
	replace(nil)
	if n := remaining(a.account, u); n != 0 || use(a.account, u, fresh[0]) {
		t.Errorf("after RecoveryCodesReplace(none): %d remaining, want 0", n)
	}
}

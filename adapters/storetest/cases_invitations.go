package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// Invitations (docs/session-rules.md §10): stored with the hash of their
// token, locked and judged in the tenant's transaction.

// invitationAt is a pending invitation of the tenant created at at,
// expiring after ttl.
func invitationAt(tn tenant, at time.Time, ttl time.Duration) core.Invitation {
	return core.Invitation{ID: uuid.New(), AccountID: tn.account, Email: "i-" + uuid.NewString() + "@example.com",
		Role: core.RoleMember, InvitedBy: &tn.owner.ID, CreatedAt: at, ExpiresAt: at.Add(ttl), LastSentAt: at, SendCount: 1}
}

// newInvitation stores inv with a fresh token and returns the token's hash.
func (e *env) newInvitation(inv core.Invitation) []byte {
	e.t.Helper()
	h := core.HashJTI(core.NewJTI())
	e.tx(inv.AccountID, func(tx core.TenantTx) error { return tx.InvitationCreate(e.ctx, inv, h) })
	return h
}

// invitationByToken locks an invitation by its token's hash; InvitationLock
// by the id it has must read the same row.
func (e *env) invitationByToken(account uuid.UUID, hash []byte) (inv core.Invitation, err error) {
	e.t.Helper()
	_ = e.s.InTenantTx(e.ctx, account, func(tx core.TenantTx) error {
		if inv, err = tx.InvitationLockByToken(e.ctx, hash); err != nil {
			return nil
		}
		byID, err := tx.InvitationLock(e.ctx, inv.ID)
		if err != nil || !invitationEqual(byID, inv) {
			e.t.Errorf("InvitationLock = %+v, %v; InvitationLockByToken = %+v", byID, err, inv)
		}
		return nil
	})
	return inv, err
}

func invitationEqual(a, b core.Invitation) bool {
	uuidEq := func(x, y *uuid.UUID) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.ID == b.ID && a.AccountID == b.AccountID && a.Email == b.Email && a.Role == b.Role && uuidEq(a.InvitedBy, b.InvitedBy) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.ExpiresAt.Equal(b.ExpiresAt) && a.LastSentAt.Equal(b.LastSentAt) &&
		a.SendCount == b.SendCount && timeEqual(a.AcceptedAt, b.AcceptedAt) && uuidEq(a.AcceptedUserID, b.AcceptedUserID) &&
		timeEqual(a.RevokedAt, b.RevokedAt)
}

// testInvitation: an invitation reads back as created (sent once, at its
// creation), found by its token's hash whatever its state — past its
// expiry too, which the tenant transaction judges (Invitation.State);
// accept and revoke stamp it; a resend replaces the token (the old hash
// finds nothing, here or in the pre-tenant lookup), the expiry, and counts
// the send (INV-02); a duplicate token is a conflict; another tenant finds
// none (INV-07).
func testInvitation(t *testing.T, e *env) {
	a, b := e.newTenant(), e.newTenant()
	inv := invitationAt(a, t0, time.Hour)
	h := e.newInvitation(inv)
	got, err := e.invitationByToken(a.account, h)
	if err != nil || !invitationEqual(got, inv) {
		t.Fatalf("InvitationLockByToken = %+v, %v; want %+v", got, err, inv)
	}
	if _, err := e.invitationByToken(a.account, core.HashJTI(core.NewJTI())); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("InvitationLockByToken(unknown): err = %v, want ErrNotFound", err)
	}
	if _, err := e.invitationByToken(b.account, h); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("InvitationLockByToken(A's) in B: err = %v, want ErrNotFound", err)
	}
	wantErr(t, "InvitationCreate(duplicate token)", e.s.InTenantTx(e.ctx, a.account, func(tx core.TenantTx) error {
		return tx.InvitationCreate(e.ctx, invitationAt(a, t0, time.Hour), h)
	}), core.ErrConflict)

	// Resent after it expired: a new token, a new expiry, a second send.
	resent, h2 := t0.Add(2*time.Hour), core.HashJTI(core.NewJTI())
	if got, _ := e.invitationByToken(a.account, h); got.State(resent) != core.InvitationExpired {
		t.Errorf("invitation past its expiry reads as %q, want expired", got.State(resent))
	}
	e.tx(a.account, func(tx core.TenantTx) error {
		return tx.InvitationResend(e.ctx, inv.ID, h2, resent.Add(time.Hour), resent)
	})
	if _, err := e.invitationByToken(a.account, h); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("InvitationLockByToken(replaced token): err = %v, want ErrNotFound", err)
	}
	if _, err := e.s.InvitationAccount(e.ctx, h); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("InvitationAccount(replaced token): err = %v, want ErrNotFound", err)
	}
	inv.ExpiresAt, inv.LastSentAt, inv.SendCount = resent.Add(time.Hour), resent, 2
	if got, err := e.invitationByToken(a.account, h2); err != nil || !invitationEqual(got, inv) || got.State(resent) != core.InvitationPending {
		t.Errorf("after InvitationResend: %+v, %v; want %+v, pending", got, err, inv)
	}

	// Accepted by a new user.
	u := e.newUser(a)
	accepted := resent.Add(time.Minute)
	e.tx(a.account, func(tx core.TenantTx) error { return tx.InvitationAccept(e.ctx, inv.ID, u.ID, accepted) })
	inv.AcceptedAt, inv.AcceptedUserID = &accepted, &u.ID
	if got, err := e.invitationByToken(a.account, h2); err != nil || !invitationEqual(got, inv) || got.State(accepted) != core.InvitationAccepted {
		t.Errorf("after InvitationAccept: %+v, %v; want %+v", got, err, inv)
	}

	// Another, revoked.
	other := invitationAt(a, t0, time.Hour)
	oh := e.newInvitation(other)
	revoked := t0.Add(time.Minute)
	e.tx(a.account, func(tx core.TenantTx) error { return tx.InvitationRevoke(e.ctx, other.ID, revoked) })
	other.RevokedAt = &revoked
	if got, err := e.invitationByToken(a.account, oh); err != nil || !invitationEqual(got, other) || got.State(revoked) != core.InvitationRevoked {
		t.Errorf("after InvitationRevoke: %+v, %v; want %+v", got, err, other)
	}
	wantErr(t, "InvitationLock(A's) in B", e.s.InTenantTx(e.ctx, b.account, func(tx core.TenantTx) error {
		_, err := tx.InvitationLock(e.ctx, other.ID)
		return err
	}), core.ErrNotFound)
}

// testInvitationListPending: the pending list holds the invitations
// neither accepted nor revoked — expired ones too — oldest first
// (created_at, then id), in pages of at most limit with neither gap nor
// repeat, and no other tenant's (INV-05).
func testInvitationListPending(t *testing.T, e *env) {
	a, b := e.newTenant(), e.newTenant()
	var want []core.Invitation
	for i := range 5 {
		inv := invitationAt(a, t0.Add(time.Duration(i/2)*time.Minute), time.Duration(1+i)*time.Minute) // pairs tie on created_at
		e.newInvitation(inv)
		want = append(want, inv)
	}
	done := []core.Invitation{invitationAt(a, t0, time.Hour), invitationAt(a, t0, time.Hour)}
	for _, inv := range done {
		e.newInvitation(inv)
	}
	e.newInvitation(invitationAt(b, t0, time.Hour))
	e.tx(a.account, func(tx core.TenantTx) error {
		if err := tx.InvitationAccept(e.ctx, done[0].ID, a.owner.ID, t0); err != nil {
			return err
		}
		return tx.InvitationRevoke(e.ctx, done[1].ID, t0)
	})
	slices.SortFunc(want, func(x, y core.Invitation) int {
		if c := x.CreatedAt.Compare(y.CreatedAt); c != 0 {
			return c
		}
		return compareIDs(x.ID, y.ID)
	})
	var got []uuid.UUID
	var after *core.InvitationPosition
	for range 10 {
		var page []core.Invitation
		e.tx(a.account, func(tx core.TenantTx) (err error) { page, err = tx.InvitationListPending(e.ctx, after, 2); return err })
		if len(page) > 2 {
			t.Errorf("InvitationListPending returned %d, limit 2", len(page))
		}
		for _, inv := range page {
			got = append(got, inv.ID)
		}
		if len(page) < 2 {
			break
		}
		after = &core.InvitationPosition{CreatedAt: page[len(page)-1].CreatedAt, ID: page[len(page)-1].ID}
	}
	var wantIDs []uuid.UUID
	for _, inv := range want {
		wantIDs = append(wantIDs, inv.ID)
	}
	if !slices.Equal(got, wantIDs) {
		t.Errorf("InvitationListPending pages = %v, want %v (expired ones included, oldest first)", got, wantIDs)
	}
}

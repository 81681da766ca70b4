package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// limitTx is the sign-in transaction as the session limit sees it.
type limitTx struct {
	fakeTx
	active    bool
	removed   bool
	policy    core.PolicyOverride
	live      int
	keptAsked int
	evicted   []uuid.UUID
	created   bool
}

func (t *limitTx) AccountPolicy(context.Context) (core.PolicyOverride, error) { return t.policy, nil }
func (t *limitTx) AccountPolicyForSignIn(context.Context, uuid.UUID) (core.PolicyOverride, bool, error) {
	return t.policy, false, nil
}
func (t *limitTx) UserLockForSignIn(context.Context, uuid.UUID) (bool, error) {
	if t.removed {
		return false, core.ErrNotFound
	}
	return t.active, nil
}
func (t *limitTx) SessionCountLive(context.Context, uuid.UUID, time.Time) (int, error) {
	return t.live, nil
}
func (t *limitTx) SessionEvictBeyond(_ context.Context, _ uuid.UUID, keep int, _ time.Time, reason string) ([]uuid.UUID, error) {
	t.keptAsked = keep
	if reason != core.ReasonEvicted {
		panic("reason " + reason)
	}
	if t.live <= keep {
		return nil, nil
	}
	for range t.live - keep {
		t.evicted = append(t.evicted, uuid.New())
	}
	return t.evicted, nil
}
func (t *limitTx) SessionCreate(context.Context, core.NewSession) error {
	t.created = true
	return nil
}

type limitStore struct {
	fakeStore
	tx *limitTx
}

func (s *limitStore) InTenantTx(_ context.Context, _ uuid.UUID, fn func(core.TenantTx) error) error {
	s.tx.store = &s.fakeStore
	return fn(s.tx)
}

func TestLogin_SessionLimit_GateInsideTheSignInTransaction(t *testing.T) {
	three := 3
	cases := []struct {
		name                string
		tx                  limitTx
		wantCode            core.Code // "" = success
		wantKeep, wantEvict int
	}{
		{"unlimited: no count, no eviction", limitTx{active: true, live: 50}, "", 0, 0},
		{"deactivated after the lookup: generic failure", limitTx{active: false}, core.CodeInvalidCredentials, 0, 0},
		{"removed after the lookup: generic failure", limitTx{removed: true}, core.CodeInvalidCredentials, 0, 0},
		{"deny below the limit", limitTx{active: true, live: 2, policy: core.PolicyOverride{MaxSessionsPerUser: &three, SessionLimitAction: core.SessionLimitDeny}}, "", 0, 0},
		{"deny at the limit", limitTx{active: true, live: 3, policy: core.PolicyOverride{MaxSessionsPerUser: &three, SessionLimitAction: core.SessionLimitDeny}}, core.CodeSessionLimitReached, 0, 0},
		{"evict: keeps limit-1 so the new one makes the limit", limitTx{active: true, live: 5, policy: core.PolicyOverride{MaxSessionsPerUser: &three}}, "", 2, 3},
		{"evict below the limit evicts nothing", limitTx{active: true, live: 1, policy: core.PolicyOverride{MaxSessionsPerUser: &three, SessionLimitAction: core.SessionLimitEvictOldest}}, "", 2, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tx := c.tx
			st := &limitStore{fakeStore: fakeStore{user: core.LoginUser{UserID: uuid.New(), AccountID: uuid.New(), PasswordHash: "hash-of:right", Active: true, Role: core.RoleMember, EmailVerified: true}}, tx: &tx}
			svc, err := core.NewService(st, nopCodec{}, &spyHasher{}, fixedClock{time.Unix(2_000_000_000, 0)}, core.DefaultConfig(), nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = svc.Login(context.Background(), "known@example.com", "right", core.Client{})
			if c.wantCode == "" && err != nil || c.wantCode != "" && core.ErrorCode(err) != c.wantCode {
				t.Fatalf("err = %v, want code %q", err, c.wantCode)
			}
			if tx.created != (c.wantCode == "") {
				t.Errorf("session created = %v", tx.created)
			}
			if c.wantKeep != 0 && tx.keptAsked != c.wantKeep {
				t.Errorf("keep = %d, want %d", tx.keptAsked, c.wantKeep)
			}
			if len(tx.evicted) != c.wantEvict {
				t.Errorf("%d evicted, want %d", len(tx.evicted), c.wantEvict)
			}
			var audited int
			for _, e := range st.events {
				if e.Action == core.ActionSessionEvicted {
					audited++
				}
			}
			if audited != c.wantEvict {
				t.Errorf("%d session.evicted events, want %d", audited, c.wantEvict)
			}
		})
	}
}

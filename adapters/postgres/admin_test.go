package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/core"
)

func intp(v int) *int { return &v }

func newAccount(t *testing.T, store *postgres.Store) uuid.UUID {
	t.Helper()
	id := uuid.New()
	err := store.InTenantTx(context.Background(), id, func(tx core.TenantTx) error {
		return tx.AccountCreate(context.Background(), core.Account{ID: id, Name: "acct " + id.String()[:8], CreatedAt: time.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// The database backs the policy invariant where it can see it: with both
// overrides set, idle ≤ absolute is a CHECK. A partial override is judged
// against the system defaults, which only core knows, so the database
// accepts it and core must refuse it first.
func TestAccountSetPolicy_CheckRefusesIdleAboveAbsoluteWhenBothSet(t *testing.T) {
	ctx := context.Background()
	store := postgres.NewStore(pgtest.Shared(t).AppPool(t, 4))
	acct := newAccount(t, store)
	set := func(o core.PolicyOverride) error {
		return store.InTenantTx(ctx, acct, func(tx core.TenantTx) error {
			if _, err := tx.AccountPolicyForUpdate(ctx); err != nil {
				return err
			}
			return tx.AccountSetPolicy(ctx, o, time.Now())
		})
	}

	err := set(core.PolicyOverride{IdleMinutes: intp(300), AbsoluteMinutes: intp(240)})
	if code := core.ErrorCode(err); code != core.CodeConflict {
		t.Fatalf("idle 300 > absolute 240: err = %v (code %q), want a conflict", err, code)
	}
	if err := set(core.PolicyOverride{IdleMinutes: intp(60), AbsoluteMinutes: intp(240)}); err != nil {
		t.Fatalf("valid override: %v", err)
	}
	if err := set(core.PolicyOverride{IdleMinutes: intp(43200)}); err != nil {
		t.Fatalf("partial override (core's to judge): %v", err)
	}
	var got core.PolicyOverride
	if err := store.InTenantTx(ctx, acct, func(tx core.TenantTx) error {
		var err error
		got, err = tx.AccountPolicy(ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got.IdleMinutes == nil || *got.IdleMinutes != 43200 || got.AbsoluteMinutes != nil {
		t.Fatalf("stored override = %+v", got)
	}
}
